// Progressive enhancement of the questionnaire; every page works without it.
(function () {
  "use strict";
  // After a refused page: to the error summary (autofocus does this too where supported).
  var summary = document.getElementById("error-summary");
  if (summary && document.activeElement !== summary) {
    summary.focus();
  }
  // One large "Lees voor" button per question instead of its player.
  var players = [];
  document.querySelectorAll("[data-read-aloud]").forEach(function (box) {
    var audio = box.querySelector("audio");
    if (!audio) {
      return;
    }
    players.push(audio);
    var button = document.createElement("button");
    button.type = "button";
    button.className = "read-aloud-button";
    button.textContent = "Lees voor";
    button.setAttribute("aria-label", audio.getAttribute("aria-label"));
    button.setAttribute("aria-pressed", "false");
    var playing = function (on) {
      button.setAttribute("aria-pressed", on ? "true" : "false");
      button.classList.toggle("playing", on);
    };
    button.addEventListener("click", function () {
      players.forEach(function (other) {
        if (other !== audio) {
          other.pause();
        }
      });
      if (audio.paused) {
        audio.play();
      } else {
        audio.pause();
      }
    });
    audio.addEventListener("play", function () { playing(true); });
    audio.addEventListener("pause", function () { playing(false); });
    audio.addEventListener("ended", function () { playing(false); audio.currentTime = 0; });
    audio.controls = false;
    audio.hidden = true;
    box.querySelector(".read-aloud-label").hidden = true;
    box.appendChild(button);
  });
})();
