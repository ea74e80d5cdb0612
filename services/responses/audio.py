"""Spoken questions for the low-threshold questionnaires: when a questionnaire version is
published, espeak-ng (voice ``nl``) reads each question with its options in one call, and
LAME (``lameenc``, in-process) compresses it to a small MP3 (mono, 32 kbit/s: about 4 kB a
second, a tenth of the WAV). One file per text, named by its content, plus a manifest per
questionnaire version that maps each text to its file. The files are served as static files at
``/audio/`` and never change, so browsers may keep them.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from services.responses.domain import (
    AUDIO_VOICE,
    AUDIO_WORDS_PER_MINUTE,
    audio_file_name,
    audio_manifest_name,
    fix_wav_sizes,
    spoken_texts,
)
from shared.logging import get_logger
from shared.questionnaires import Questionnaire, all_questionnaires

log = get_logger(__name__)

URL_PREFIX = "/audio/"
ESPEAK = "espeak-ng"


class SpeechUnavailableError(RuntimeError):
    """espeak-ng is not installed (apt-get install espeak-ng)."""


@dataclass(frozen=True)
class Published:
    questionnaire_id: str
    version: int
    texts: int
    files_written: int


def audio_questionnaires() -> list[Questionnaire]:
    return [q for q in all_questionnaires().values() if q.audio_available]


def manifest_path(folder: Path, questionnaire: Questionnaire) -> Path:
    return folder / audio_manifest_name(questionnaire)


async def speak(text: str) -> bytes:
    """The WAV bytes of ``text`` read by espeak-ng (text on stdin: never taken for an option)."""
    executable = shutil.which(ESPEAK)
    if executable is None:
        raise SpeechUnavailableError(f"{ESPEAK} is not installed")
    process = await asyncio.create_subprocess_exec(
        executable,
        "-v",
        AUDIO_VOICE,
        "-s",
        str(AUDIO_WORDS_PER_MINUTE),
        "--stdout",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate(text.encode())
    if process.returncode != 0:
        raise RuntimeError(f"{ESPEAK} failed: {err.decode(errors='replace').strip()}")
    return fix_wav_sizes(out)


MP3_KBITS = 32  # speech, mono: clear at a tenth of the WAV's size


def mp3_from_wav(wav: bytes) -> bytes:
    """espeak-ng's canonical 16-bit mono WAV as a small MP3."""
    import lameenc  # imported late: only publishing audio needs it

    encoder = lameenc.Encoder()
    encoder.set_bit_rate(MP3_KBITS)
    encoder.set_in_sample_rate(int.from_bytes(wav[24:28], "little"))
    encoder.set_channels(1)
    encoder.set_quality(2)
    return bytes(encoder.encode(wav[44:]) + encoder.flush())


def _write_atomically(path: Path, data: bytes) -> None:
    """Replicas publishing at once never see half a file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    temporary.replace(path)


async def publish_audio(
    folder: Path, questionnaires: Iterable[Questionnaire] | None = None, *, force: bool = False
) -> list[Published]:
    """Speak every text of each questionnaire with audio; skip versions already published."""
    folder.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, at publication
    published: list[Published] = []
    for questionnaire in audio_questionnaires() if questionnaires is None else questionnaires:
        manifest = manifest_path(folder, questionnaire)
        if manifest.exists() and not force:
            continue
        texts = spoken_texts(questionnaire)
        files: dict[str, str] = {}
        written = 0
        limit = asyncio.Semaphore(max(1, os.cpu_count() or 1))

        async def one(text: str, limit: asyncio.Semaphore = limit) -> tuple[str, bytes]:
            async with limit:
                return text, mp3_from_wav(await speak(text))

        for text, sound in await asyncio.gather(*(one(t) for t in texts)):
            name = audio_file_name(sound)
            files[text] = name
            if not (folder / name).exists():
                _write_atomically(folder / name, sound)
                written += 1
        body = {
            "questionnaire_id": questionnaire.questionnaire_id,
            "version": questionnaire.version,
            "voice": AUDIO_VOICE,
            "files": files,
        }
        _write_atomically(manifest, json.dumps(body, ensure_ascii=False, indent=1).encode())
        log.info(
            "audio_published",
            questionnaire_id=questionnaire.questionnaire_id,
            version=questionnaire.version,
            texts=len(texts),
            files_written=written,
        )
        published.append(
            Published(questionnaire.questionnaire_id, questionnaire.version, len(texts), written)
        )
    return published


class AudioLibrary:
    """Per questionnaire version: text → URL of its sound file; empty when none was published."""

    RECHECK_SECONDS = 10.0

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._found: dict[str, dict[str, str]] = {}
        self._missing_since: dict[str, float] = {}

    def urls(self, questionnaire: Questionnaire) -> dict[str, str]:
        if not questionnaire.audio_available:
            return {}
        name = audio_manifest_name(questionnaire)
        found = self._found.get(name)
        if found is not None:
            return found
        checked = self._missing_since.get(name)
        if checked is not None and time.monotonic() - checked < self.RECHECK_SECONDS:
            return {}
        try:
            files = json.loads((self.folder / name).read_text(encoding="utf-8"))["files"]
        except (OSError, ValueError, KeyError):
            self._missing_since[name] = time.monotonic()
            return {}
        urls = {text: URL_PREFIX + file for text, file in files.items()}
        self._found[name] = urls
        return urls
