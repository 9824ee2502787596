"""The German catalogue: every text of `codes.py` in German, keyed the same way.

`MESSAGES[code][variant]` and `HINTS[code][variant]` take exactly the fields of the
English templates (tests/test_german.py checks it for every code). A field that is
code of the rule language (a literal to write, a number as the rules read it) is
written `{field!c}`: it stays as the rule language writes it (`3.5%`, `10_000`);
every other number is formatted German (10.000; 3,5 % with a no-break space, so
that a line never breaks between a number and its sign). The rule language itself is
not translated: names, keywords and literals in backticks read the same in both
languages.

Terms, as the studio's page uses them: tier = Stufe, label = Merkmal, input =
Eingabe, account = Konto, rule = Regel, example = Beispiel, condition = Bedingung;
`level` and `band` are named by their keywords (Level, Band).
"""

from __future__ import annotations

from typing import Final

_RANGE_HINTS: Final = {
    "percent": "eine Prozent-Eingabe nimmt 0\u00a0% bis 100\u00a0%, wenn ihre Deklaration "
    "den Bereich nicht erweitert, z. B. `input {name}: percent at most 1000%`",
    "percent-above": "ein Prozentwert ist höchstens 100\u00a0%, wenn seine Deklaration nicht sagt, "
    "wie weit darüber, z. B. `input {name}: percent between … and 1000%`",
    "declared": "erweitern Sie den Bereich von '{name}' dort, wo sie deklariert ist, oder "
    "ändern Sie diesen Wert",
}

MESSAGES: Final[dict[str, dict[str, str]]] = {
    "file-too-large": {
        "": "diese Datei hat {size:,} Bytes; Regeldateien dürfen höchstens {limit:,} haben"
    },
    "not-utf8": {"": "diese Datei ist kein UTF-8-Text (Byte {offset} ist 0x{byte:02x})"},
    "syntax": {"": "{message}"},
    "unexpected-character": {"": "unerwartetes Zeichen {shown}"},
    "ambiguous-number": {
        "": "{token} wird hier als {value!c:g} gelesen (ein Punkt leitet Nachkommastellen ein)"
    },
    "number-too-large": {"": "{shown} ist zu groß für eine Zahl"},
    "too-deep": {
        "statement": "diese Anweisung ist tiefer als {depth} Ebenen verschachtelt",
        "file": "diese Datei ist zu tief verschachtelt",
    },
    "level-on-expression": {"": "nur ein Level kann auf ein Band wie '{band}' geprüft werden"},
    "no-tiers": {
        "": "dieses Regelwerk hat keine Stufen",
        "empty": "dieses Regelwerk hat keine Stufen (die Datei ist leer)",
    },
    "duplicate-header": {"": "'{key}' ist zweimal angegeben (zuerst in Zeile {line})"},
    "duplicate-name": {
        "": "'{name}' ist bereits in Zeile {line} deklariert",
        "given": "'{name}' ist zweimal angegeben",
    },
    "reserved-name": {
        "": "'none' bedeutet in Beispielen „kein Merkmal“; geben Sie diesem Merkmal einen "
        "anderen Namen"
    },
    "missing-default": {"": "die optionale Eingabe '{name}' braucht einen Vorgabewert"},
    "range-on-non-number": {"": "'{name}' ist {type}: nur Zahlen haben Bereiche"},
    "range-op": {"": "ein Bereich sagt, welche Werte erlaubt sind: `{spelling}` tut das nicht"},
    "empty-range": {
        "": "dieser Bereich ist leer: {low!c} ist größer als {high!c}",
        "input": "kein Wert ist {text}",
        "band": "Band '{band}' ist ein leerer Bereich",
    },
    "default-out-of-range": {
        "": "der Vorgabewert von '{name}' gehört nicht zu den Werten {allowed}"
    },
    "out-of-range": {
        "": "'{name}' erlaubt nur Werte {allowed}, also liegt {value} außerhalb ihres "
        "Bereichs und dieser Vergleich ist {fixed} wahr",
        "example": "'{name}' erlaubt nur Werte {allowed}; {value} gehört nicht dazu",
        "band": "Band '{band}' kann nie gewählt werden: '{source}' erlaubt nur Werte {allowed}",
    },
    "cyclic-let": {"": "diese Definitionen hängen voneinander ab: {cycle}"},
    "type-mismatch": {
        "literal": "'{name}' ist {type}; {text} ist das nicht",
        "declared": "'{name}' ist als {declared} deklariert, ihr Wert ist aber {found}",
        "arithmetic": "'{op}' rechnet mit Zahlen, dies ist aber {found}",
        "test": "{what}, dies ist aber {found}",
        "equality-only": "{type} lässt sich nur mit == oder != vergleichen",
        "compare": "{left} und {right} lassen sich nicht vergleichen",
        "between": "`between` arbeitet mit Zahlen, hier steht aber {type}",
    },
    "not-a-condition": {
        "": "eine Bedingung muss wahr oder falsch sein, dies ist aber {type}",
        "combined": "`and`, `or` und `not` verknüpfen Bedingungen, dies ist aber {type}",
    },
    "percent-without-sign": {
        "": "'{name}' ist ein Prozentwert, aber {text!c} ist eine einfache Zahl"
    },
    "percent-for-count": {"": "'{name}' ist eine Anzahl, aber {text!c} ist ein Prozentwert"},
    "unknown-name": {"": "unbekannter Name '{name}'"},
    "unknown-input": {"": "unbekannte Eingabe '{name}'"},
    "unknown-tier": {"": "unbekannte Stufe '{name}'"},
    "unknown-label": {"": "unbekanntes Merkmal '{name}'"},
    "level-as-value": {"": "'{name}' ist ein Level: geben Sie an, welches Band ({bands})"},
    "level-source-type": {"": "ein Level braucht eine Zahl zum Einstufen; '{name}' ist {type}"},
    "band-not-number": {"": "die Grenze eines Bands muss eine in der Datei geschriebene Zahl sein"},
    "not-a-level": {"": "'{name}' ist kein Level und hat daher kein Band '{band}'"},
    "unknown-band": {"": "Level '{level}' hat kein Band '{band}'"},
    "otherwise-not-last": {
        "": "Band '{band}' ist `otherwise`, daher können die Bänder danach nie gewählt werden"
    },
    "unreachable-band": {
        "": "Band '{band}' kann nie gewählt werden: die Bänder darüber decken alle seine Werte ab"
    },
    "overlapping-bands": {
        "": "die Bänder '{first}' und '{band}' überschneiden sich von {low} bis {high}"
    },
    "level-gap": {
        "": "Level '{level}' hat für manche Werte von '{source}' kein Band (zum Beispiel {value})"
    },
    "duplicate-otherwise": {"": "ein zweites `otherwise` (das erste steht in Zeile {line})"},
    "example-missing-input": {
        "": 'dem Beispiel "{description}" fehlen Werte erforderlicher Eingaben: {missing}'
    },
    "unreachable-rule": {
        "after-otherwise": "Stufe '{tier}' kann nie zutreffen: sie steht nach `otherwise` "
        "in Zeile {line}",
        "no-account": "Stufe '{tier}' kann nie zutreffen: kein Konto erfüllt ihre Bedingung",
        "contradiction": "Stufe '{tier}' kann nie zutreffen: kein Konto erfüllt ihre Bedingung",
        "taken": "Stufe '{tier}' kann nie zutreffen: Stufe '{earlier}' (Zeile {line}) darüber "
        "nimmt jedes Konto, das sie nehmen würde",
        "shadowed": "Stufe '{tier}' kann nie zutreffen: {takers} nehmen jedes Konto, das sie "
        "nehmen würde{example}",
        "label": "Merkmal '{label}' kann nie gelten: kein Konto erfüllt seine Bedingung",
    },
    "overlapping-tiers": {
        "": "die Stufen '{earlier}' (Zeile {line}) und '{later}' treffen beide auf manche "
        "Konten zu, was `policy unique` verbietet{example}",
    },
    "uncovered": {
        "": "manche Konten erhalten keine Stufe, zum Beispiel {example}; die Datei hat kein "
        "`otherwise`"
    },
    "label-always": {"": "Merkmal '{label}' gilt für jedes Konto und unterscheidet daher nichts"},
    "always-true": {
        "": "`{text}` gilt immer, wo der Rest von {kind} '{rule}' gilt, und ändert daher nichts"
    },
    "never-true": {"": "`{text}` gilt nie, daher greift diese Alternative von {kind} '{rule}' nie"},
    "analysis-undecided": {"": "der Solver konnte in {budget} ms nicht entscheiden, ob {what}"},
}

HINTS: Final[dict[str, dict[str, str]]] = {
    "not-utf8": {"": "speichern Sie die Datei als UTF-8"},
    "unexpected-character": {
        "quote": 'Texte stehen in doppelten Anführungszeichen: "{text}"',
        "digit": "eine Zahl endet mit höchstens einem von k, M, B oder %, dann folgt ein "
        "Leerzeichen",
    },
    "ambiguous-number": {
        "": "für {whole:,} schreiben Sie {whole!c:_}{in_thousands}; für {value!c:g} schreiben "
        "Sie {value!c:g}"
    },
    "number-too-large": {
        "": "Zahlen in Regeln reichen bis etwa 1,8e308 (1,8 mit 308 Stellen dahinter)"
    },
    "too-deep": {"statement": "teilen Sie sie mit `let`-Definitionen auf"},
    "level-on-expression": {"": "definieren Sie aus diesem Wert ein `level` und prüfen Sie das"},
    "no-tiers": {
        key: "fügen Sie eine Stufenregel hinzu, z. B. "
        "`tier micro when followers between 10k and 100k`"
        for key in ("", "empty")
    },
    "duplicate-name": {"": "geben Sie diesem `{what}` einen anderen Namen"},
    "missing-default": {"": "schreiben Sie `optional default …`; der Wert ist {type}"},
    "range-op": {"": "schreiben Sie `at least …`, `at most …` oder `between … and …`"},
    "empty-range": {"": "schreiben Sie `between {high!c} and {low!c}`"},
    "default-out-of-range": dict(_RANGE_HINTS),
    "out-of-range": dict(_RANGE_HINTS),
    "cyclic-let": {
        "": "ein `let` oder `level` darf nur Eingaben und zuvor definierte Werte verwenden"
    },
    "type-mismatch": {
        "percent": "meinten Sie {percent!c}?",
        "count-max": "eine Anzahl ist höchstens {max:,} (so viel trägt die gRPC-API)",
        "write-set": 'schreiben Sie eine Menge: {{"{text}"}}',
        "set-for-text": "für eine Menge von Texten verwenden Sie `has any of {{…}}`",
        "text-for-set": 'für einen Text verwenden Sie `in {{…}}` oder `is "…"`',
        "choice-of-texts": 'für eine Auswahl von Texten verwenden Sie `in {{"…", "…"}}`',
        "texts-with-texts": 'Texte werden mit Texten verglichen: platform == "instagram"',
    },
    "not-a-condition": {
        "": "vergleichen Sie den Wert: `… at least …`, `… is …`, `… has any of {{…}}`",
        "combined": "vergleichen Sie den Wert: `… at least …`, `… is …`",
    },
    "percent-without-sign": {"": "meinten Sie {percent!c}?"},
    "percent-for-count": {"": "meinten Sie {number!c}?"},
    "unknown-name": {
        "declare-input": "deklarieren Sie ihn mit `input NAME: TYPE`",
        "declare": "deklarieren Sie ihn mit `input {name}: …` oder `let {name} = …`",
        "quote": 'setzen Sie Text in Anführungszeichen: "{name}"',
    },
    "unknown-input": {
        "derived": "'{name}' wird von den Regeln berechnet; geben Sie die Eingaben an, aus "
        "denen sie entsteht"
    },
    "unknown-tier": {
        "known": "die Stufen sind {names}",
        "none": "diese Datei hat keine Stufen: fügen Sie `tier {name} when …` hinzu",
    },
    "unknown-label": {
        "known": "die Merkmale sind {names}",
        "none": "diese Datei hat keine Merkmale: fügen Sie `label {name} when …` hinzu, "
        "oder lassen Sie `labels …` weg",
    },
    "level-as-value": {"": "schreiben Sie `{name} is {band}`"},
    "not-a-level": {
        "define": "definieren Sie eines: `level {name}_level from {name}` mit Bändern",
        "text": 'um einen Text zu prüfen, schreiben Sie `{name} is "{band}"`',
    },
    "unknown-band": {"known": "seine Bänder sind {bands}"},
    "otherwise-not-last": {"": "machen Sie `otherwise` zum letzten Band"},
    "unreachable-band": {
        "": "Bänder werden von oben nach unten geprüft: setzen Sie das engere Band nach oben"
    },
    "overlapping-bands": {"": "lassen Sie die Bereiche aneinanderstoßen, ohne Werte zu teilen"},
    "level-gap": {"": "fügen Sie ein letztes Band `NAME otherwise` hinzu"},
    "example-missing-input": {
        "": "geben Sie jede erforderliche Eingabe an, oder deklarieren Sie sie `optional default …`"
    },
    "unreachable-rule": {
        "after-otherwise": "`otherwise` muss die letzte Stufenregel sein",
        "no-account": "prüfen Sie die Grenzen gegen die Bereiche der Eingaben (eine Anzahl "
        "ist ganzzahlig, ein Prozentwert liegt zwischen 0\u00a0% und 100\u00a0%, sofern die "
        "Eingabe nichts anderes sagt)",
        "contradiction": "suchen Sie nach Prüfungen, die einander widersprechen "
        '(has "x" and not has any of {{"x"}})',
        "taken": "Stufen werden von oben nach unten geprüft: schieben Sie sie nach oben, "
        "oder fassen Sie die darüber enger",
        "shadowed": "Stufen werden von oben nach unten geprüft: schieben Sie sie nach oben, "
        "oder fassen Sie die darüber enger",
        "label": "suchen Sie nach Prüfungen, die einander widersprechen "
        '(platform == "a" and platform == "b")',
    },
    "overlapping-tiers": {
        "": "formulieren Sie die Bedingungen so, dass sie einander ausschließen",
        "ranges": "lassen Sie die Bereiche aneinanderstoßen, ohne einen Wert zu teilen "
        "(at least … / below …)",
    },
    "uncovered": {
        "": "fügen Sie `otherwise none` hinzu, wenn das so gewollt ist, oder eine Stufe für sie"
    },
    "label-always": {"": "fassen Sie seine Bedingung enger, oder streichen Sie das Merkmal"},
    "always-true": {"": "streichen Sie die Bedingung, oder korrigieren Sie die gemeinte Grenze"},
    "never-true": {"": "suchen Sie nach Prüfungen, die einander widersprechen"},
    "analysis-undecided": {
        "": "vereinfachen Sie die Bedingung, oder erhöhen Sie das Budget "
        "(tierline check --solver-ms N)"
    },
}

# How a summary names many diagnostics of a code (codes.Code.counted).
COUNTED: Final[dict[str, str]] = {
    "findings": "Befunde",
    "bands that can never be chosen": "Bänder, die nie gewählt werden können",
    "bands that overlap a band above them": "Bänder, die ein Band darüber überschneiden",
    "rules that can never match": "Regeln, die nie zutreffen können",
    "tiers that overlap a tier above them": "Stufen, die eine Stufe darüber überschneiden",
}

# codes.TEXTS in German.
TEXTS: Final[dict[str, str]] = {
    "omitted": "… und {count:,} weitere {counted} ({code!c}): nur die ersten {per_code} jeder "
    "Art werden aufgeführt",
    "omitted-hint": "beheben Sie die aufgeführten und prüfen Sie erneut, um die übrigen zu sehen",
    "did-you-mean": "meinten Sie '{match}'?",
    "tier-at": "'{tier}' (Zeile {line})",
    "listed": "{items}",
    "shadowed-example": ": zum Beispiel erhält {example} eine frühere Stufe",
    "moves": "ob ein Konto von {old} zu {new} wechselt",
    "no-tier": "keiner Stufe",
    "label-gained": "ob ein Konto das Merkmal {label} hinzugewinnt",
    "label-lost": "ob ein Konto das Merkmal {label} verliert",
}

# Field values that are English words (a type described, "always"), said in German.
WORDS: Final[dict[str, str]] = {
    "a count": "eine Anzahl",
    "a number": "eine Zahl",
    "a percentage": "ein Prozentwert",
    "text": "Text",
    "a flag (true or false)": "ein Wahrheitswert (true oder false)",
    "a set of texts": "eine Menge von Texten",
    "always": "immer",
    "never": "nie",
    "the tiers above": "die Stufen darüber",
    "any account": "jedes Konto",
    "`has` tests a set of texts": "`has` prüft eine Menge von Texten",
    "`in {…}` tests a text": "`in {…}` prüft einen Text",
    '`is "…"` tests a text': '`is "…"` prüft einen Text',
}

# What a hover says (engine/services/hover.py, SAID), in German.
HOVER: Final[dict[str, str]] = {
    "percent-api": " (die API nimmt Prozentwerte als Bruchteile)",
    "input": "**input** `{name}`: {type}",
    "values": "Werte: {range}",
    "no-default": "ohne Vorgabewert",
    "default": "Vorgabewert {value}",
    "optional": "optional ({default})",
    "required": "erforderlich: jedes Konto gibt sie an",
    "level": "**level** `{name}` aus `{source}`: das erste Band, das zutrifft, wird gewählt "
    "({bands})",
    "let": "**let** `{name}`: {type}",
    "type-unknown": "Typ unbekannt (die Datei hat Fehler)",
    "band": "**band** `{name}` von Level `{level}`: `{test}`",
    "band-otherwise": "**band** `{name}` von Level `{level}`: wenn kein Band darüber zutrifft",
    "tier": "**tier** `{name}`",
    "label": "**label** `{name}`",
    "rules": ": {count:,} Regeln vergeben sie",
    "otherwise": " (`otherwise`: jedes Konto, das keine Stufe darüber nimmt)",
}
