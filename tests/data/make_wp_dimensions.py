"""Regenerate wp_dimensions.json: WordPress's own sizing functions, run by PHP on a table of cases.

    python tests/data/make_wp_dimensions.py /usr/share/wordpress > tests/data/wp_dimensions.json

Needs `php` and a WordPress tree (Debian's `wordpress` package, or `apt-get download wordpress` and
`dpkg-deb -x`). The functions wp_constrain_dimensions, image_resize_dimensions and
wp_fuzzy_number_match are cut out of WordPress's sources as they are and run with `apply_filters`
stubbed to return its value unchanged (no plugin filters), so the table is WordPress's answer, not ours.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

# WordPress's default sub-sizes (name, width, height, crop), plus the big-image threshold as a fit.
SIZES = [("thumbnail", 150, 150, True), ("medium", 300, 300, False), ("medium_large", 768, 0, False),
         ("large", 1024, 1024, False), ("1536x1536", 1536, 1536, False), ("2048x2048", 2048, 2048, False),
         ("scaled", 2560, 2560, False), ("wide-crop", 640, 360, True), ("tall-crop", 200, 600, True)]
NAMED = [(6000, 4000), (4000, 6000), (4000, 3000), (3000, 4000), (1000, 1000), (100, 80), (1, 1),
         (2560, 1707), (2560, 2560), (2561, 1700), (151, 151), (150, 150), (149, 300), (300, 149),
         (5000, 1), (1, 5000), (1023, 767), (768, 1), (3, 7000), (301, 301), (769, 500), (1025, 1025),
         # fits where a side comes out one pixel short and WordPress rounds it up to the limit
         (996, 1001), (1003, 1001), (1332, 1333), (1339, 1333), (2549, 2561), (4003, 4001), (6007, 5995)]


def function_source(text: str, name: str) -> str:
    start = text.index(f"function {name}(")
    depth, i = 0, text.index("{", start)
    while True:
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
        if depth == 0:
            return text[start:i]


def main() -> int:
    root = Path(sys.argv[1])
    media = (root / "wp-includes/media.php").read_text()
    functions = (root / "wp-includes/functions.php").read_text()
    version = re.search(r"\$wp_version = '([^']+)'", (root / "wp-includes/version.php").read_text()).group(1)
    rng = random.Random(20261129)
    origins = NAMED + [(rng.randint(1, 9000), rng.randint(1, 9000)) for _ in range(300)]
    php = "<?php\nfunction apply_filters($hook, $value, ...$args) { return $value; }\n"
    php += "\n".join(function_source(media, f) for f in ("wp_constrain_dimensions", "image_resize_dimensions"))
    php += "\n" + function_source(functions, "wp_fuzzy_number_match") + "\n"
    php += "$cases = json_decode($argv[1], true); $out = [];\n"
    php += "foreach ($cases as [$w, $h, $dw, $dh, $crop]) {\n"
    php += "    $out[] = image_resize_dimensions($w, $h, $dw, $dh, $crop);\n}\n"
    php += "echo json_encode($out);\n"
    cases = [(w, h, dw, dh, crop) for w, h in origins for _, dw, dh, crop in SIZES]
    with tempfile.NamedTemporaryFile("w", suffix=".php") as script:
        script.write(php)
        script.flush()
        result = subprocess.run(["php", script.name, json.dumps(cases)], capture_output=True, text=True, check=True)
    answers = json.loads(result.stdout)
    table = [
        {"orig": [w, h], "dest": [dw, dh], "crop": crop, "wordpress": answer}
        for (w, h, dw, dh, crop), answer in zip(cases, answers, strict=True)
    ]
    json.dump({"wordpress_version": version, "cases": table}, sys.stdout, indent=None, separators=(",", ":"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
