"""The province (provincie) a contact lives in, from the four digits of the postcode. Pure.

Only the province travels on (``invitations.issued``): coarse enough to say where a provider's
clients come from, never an address. The postcode itself stays in the invitations schema.

Source of the table: the four-digit postcode ranges per province as listed on
https://nl.wikipedia.org/wiki/Postcodes_in_Nederland (postcodegebieden per provincie), with one
change: Vijfheerenlanden (Vianen, Lexmond, Leerdam, Meerkerk) has been in Utrecht since 2019, so
4126–4129 are Utrecht here. Numbers the source leaves out (not issued) take their neighbour's
province. Postcode areas follow municipal borders only roughly: an area on a border may hold a
few addresses of the neighbouring province. Not a source for anything finer than the report's
"Cliënten afkomstig uit de volgende provincie(s)".
"""

from __future__ import annotations

import bisect
import re
from typing import Final

from shared.events import Province

# (first, last, province): inclusive four-digit ranges, ascending and not overlapping.
RANGES: Final[tuple[tuple[int, int, Province], ...]] = (
    (1000, 1299, "Noord-Holland"),  # Amsterdam, Hilversum, Het Gooi
    (1300, 1379, "Flevoland"),  # Almere
    (1380, 1389, "Noord-Holland"),  # Weesp
    (1390, 1393, "Utrecht"),  # Abcoude, Nigtevecht
    (1394, 1395, "Noord-Holland"),  # Nederhorst den Berg, Ankeveen
    (1396, 1396, "Utrecht"),  # Baambrugge
    (1397, 1425, "Noord-Holland"),  # Muiden, Bussum, Naarden, Uithoorn
    (1426, 1427, "Utrecht"),  # De Hoef, Amstelhoek
    (1428, 1429, "Zuid-Holland"),  # Bilderdam, Vrouwenakker
    (1430, 2158, "Noord-Holland"),  # Aalsmeer … Haarlem, Haarlemmermeer
    (2159, 2164, "Zuid-Holland"),
    (2165, 2165, "Noord-Holland"),  # Lisserbroek
    (2166, 3381, "Zuid-Holland"),  # Leiden, Den Haag, Delft, Zoetermeer, Gouda, Rotterdam, Dordrecht
    (3382, 3464, "Utrecht"),
    (3465, 3466, "Zuid-Holland"),  # Driebruggen, Waarder
    (3467, 3769, "Utrecht"),  # Utrecht, Maarssen, Zeist, Baarn, Soest
    (3770, 3794, "Gelderland"),  # Barneveld, Voorthuizen
    (3795, 3836, "Utrecht"),  # Amersfoort, Leusden
    (3837, 3889, "Gelderland"),  # Harderwijk, Ermelo, Nijkerk, Putten
    (3890, 3899, "Flevoland"),  # Zeewolde
    (3900, 3924, "Utrecht"),  # Veenendaal, Rhenen
    (3925, 3925, "Gelderland"),  # Scherpenzeel
    (3926, 3999, "Utrecht"),  # Renswoude, Woudenberg, Doorn, Wijk bij Duurstede, Houten
    (4000, 4119, "Gelderland"),  # Tiel, Culemborg, Buren
    (4120, 4146, "Utrecht"),  # Vianen, Lexmond, Leerdam (Vijfheerenlanden)
    (4147, 4162, "Gelderland"),  # Asperen, Beesd, Geldermalsen
    (4163, 4169, "Utrecht"),
    (4170, 4199, "Gelderland"),
    (4200, 4210, "Zuid-Holland"),  # Gorinchem
    (4211, 4212, "Gelderland"),
    (4213, 4213, "Zuid-Holland"),
    (4214, 4219, "Gelderland"),
    (4220, 4229, "Zuid-Holland"),
    (4230, 4239, "Utrecht"),  # Meerkerk, Ameide (Vijfheerenlanden)
    (4240, 4241, "Zuid-Holland"),  # Arkel
    (4242, 4249, "Utrecht"),
    (4250, 4299, "Noord-Brabant"),  # Werkendam, Woudrichem (Altena)
    (4300, 4599, "Zeeland"),  # Zierikzee, Middelburg, Vlissingen, Goes, Terneuzen, Hulst
    (4600, 4671, "Noord-Brabant"),  # Bergen op Zoom, Steenbergen, Dinteloord
    (4672, 4679, "Zeeland"),
    (4680, 4681, "Noord-Brabant"),
    (4682, 4699, "Zeeland"),
    (4700, 5299, "Noord-Brabant"),  # Roosendaal, Breda, Tilburg, 's-Hertogenbosch
    (5300, 5339, "Gelderland"),  # Zaltbommel, Maasdriel
    (5340, 5765, "Noord-Brabant"),  # Oss, Uden, Eindhoven, Helmond
    (5766, 5817, "Limburg"),
    (5818, 5846, "Noord-Brabant"),  # Boxmeer, Sint Anthonis
    (5847, 6019, "Limburg"),  # Bergen (L.), Horst, Venlo, Weert
    (6020, 6029, "Noord-Brabant"),  # Budel, Maarheeze
    (6030, 6499, "Limburg"),  # Roermond, Sittard, Maastricht, Heerlen
    (6500, 6583, "Gelderland"),  # Nijmegen, Groesbeek, Malden
    (6584, 6599, "Limburg"),  # Mook, Gennep
    (6600, 7399, "Gelderland"),  # Wijchen, Ede, Arnhem, Doetinchem, Zutphen, Apeldoorn
    (7400, 7438, "Overijssel"),  # Deventer, Enschede, Almelo, Ommen
    (7439, 7439, "Gelderland"),
    (7440, 7739, "Overijssel"),
    (7740, 7766, "Drenthe"),  # Coevorden, Schoonebeek
    (7767, 7799, "Overijssel"),  # Hardenberg, Gramsbergen
    (7800, 7949, "Drenthe"),  # Emmen, Hoogeveen, Meppel
    (7950, 7955, "Overijssel"),  # Staphorst, IJhorst
    (7956, 7999, "Drenthe"),  # Havelte, Dwingeloo
    (8000, 8049, "Overijssel"),  # Zwolle
    (8050, 8054, "Gelderland"),  # Hattem
    (8055, 8069, "Overijssel"),  # Hasselt, Zwartsluis
    (8070, 8099, "Gelderland"),  # Nunspeet, Elburg, Oldebroek
    (8100, 8159, "Overijssel"),  # Raalte, Ommen, Lemelerveld
    (8160, 8195, "Gelderland"),  # Epe, Heerde
    (8196, 8199, "Overijssel"),
    (8200, 8259, "Flevoland"),  # Lelystad, Dronten
    (8260, 8299, "Overijssel"),  # Kampen, Genemuiden
    (8300, 8322, "Flevoland"),  # Emmeloord, Urk
    (8323, 8349, "Overijssel"),  # Vollenhove, Steenwijk, Giethoorn
    (8350, 8354, "Drenthe"),
    (8355, 8379, "Overijssel"),
    (8380, 8387, "Drenthe"),  # Vledder, Frederiksoord
    (8388, 9299, "Friesland"),  # Noordwolde, Heerenveen, Sneek, Leeuwarden, Dokkum, Drachten
    (9300, 9349, "Drenthe"),  # Roden, Peize, Norg
    (9350, 9399, "Groningen"),  # Leek, Marum
    (9400, 9478, "Drenthe"),  # Assen, Gieten, Zuidlaren
    (9479, 9479, "Groningen"),
    (9480, 9499, "Drenthe"),
    (9500, 9509, "Groningen"),  # Stadskanaal
    (9510, 9539, "Drenthe"),  # Gasselternijveen, Nieuw-Buinen, Borger
    (9540, 9563, "Groningen"),  # Vlagtwedde, Ter Apel
    (9564, 9564, "Drenthe"),
    (9565, 9569, "Groningen"),
    (9570, 9579, "Drenthe"),  # Exloërmond
    (9580, 9653, "Groningen"),  # Musselkanaal, Hoogezand, Groningen, Haren
    (9654, 9659, "Drenthe"),
    (9660, 9748, "Groningen"),
    (9749, 9749, "Drenthe"),
    (9750, 9759, "Groningen"),
    (9760, 9769, "Drenthe"),  # Eelde, Paterswolde
    (9770, 9849, "Groningen"),  # Winsum, Zuidhorn, Appingedam, Delfzijl
    (9850, 9859, "Friesland"),
    (9860, 9869, "Groningen"),
    (9870, 9879, "Friesland"),
    (9880, 9999, "Groningen"),
)
PROVINCES: Final[tuple[Province, ...]] = tuple(sorted({p for _, _, p in RANGES}))

_FIRSTS: Final[tuple[int, ...]] = tuple(first for first, _, _ in RANGES)
_DIGITS = re.compile(r"^\s*([1-9][0-9]{3})\s*(?:[A-Za-z]{2})?\s*$")


def province_of(postcode: str | None) -> Province | None:
    """The province of a Dutch postcode ("1234 AB", "1234AB" or just "1234"); None when there is
    no postcode or it is not one the table knows."""
    match = _DIGITS.match(postcode or "")
    if match is None:
        return None
    digits = int(match.group(1))
    index = bisect.bisect_right(_FIRSTS, digits) - 1
    if index < 0:
        return None
    first, last, province = RANGES[index]
    return province if first <= digits <= last else None
