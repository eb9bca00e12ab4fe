"""extract_code: picking the code section out of a model's answer."""

from __future__ import annotations

import pytest

from scigenbench.generators.sandbox import extract_code
from scigenbench.generators.sandbox.extract import extract_code_with_offset


def test_plain_code_is_returned_unchanged():
    code = "import matplotlib.pyplot as plt\nplt.plot([1, 2])\n"
    assert extract_code(code, "python") == code


def test_fence_tagged_with_the_language_wins_over_a_larger_other_fence():
    text = ("Install first:\n```bash\npip install matplotlib numpy scipy sympy pandas seaborn\n```\n"
            "Then:\n```python\nimport matplotlib.pyplot as plt\n```\n")
    assert extract_code(text, "python") == "import matplotlib.pyplot as plt\n"


def test_largest_tagged_fence_is_chosen():
    text = "```python\nx = 1\n```\nFull program:\n```py\nimport numpy as np\nx = np.arange(3)\n```"
    assert extract_code(text, "python") == "import numpy as np\nx = np.arange(3)\n"


def test_without_tagged_fence_the_largest_fence_is_used():
    text = "```\nshort\n```\n```\nimport matplotlib\nmatplotlib.use('Agg')\n```"
    assert extract_code(text, "python") == "import matplotlib\nmatplotlib.use('Agg')\n"


def test_unterminated_fence_runs_to_the_end():
    text = "Here:\n```python\nimport math\nprint(math.pi)"
    assert extract_code(text, "python") == "import math\nprint(math.pi)\n"


def test_code_on_the_fence_line_and_glued_closing_fence():
    text = "```python import math\nprint(math.pi)```\nDone."
    assert extract_code(text, "python") == "import math\nprint(math.pi)\n"


def test_missing_newline_between_tag_and_code():
    assert extract_code("```pythonimport math\nx = 1\n```", "python") == "import math\nx = 1\n"


def test_tikz_fence_and_line_offset():
    text = "Sure.\n\n```latex\n\\begin{tikzpicture}\n\\draw (0,0) -- (1,1);\n\\end{tikzpicture}\n```\n"
    code, offset = extract_code_with_offset(text, "tikz")
    assert code.startswith("\\begin{tikzpicture}")
    assert offset == 3  # the code's first line is line 4 of the answer


def test_tikz_document_inside_prose_without_fences():
    text = "The figure:\n\\documentclass{standalone}\n\\begin{document}x\\end{document}\nHope it helps."
    assert extract_code(text, "tikz") == "\\documentclass{standalone}\n\\begin{document}x\\end{document}"


def test_unknown_language_is_rejected():
    with pytest.raises(ValueError, match="unknown language"):
        extract_code("x", "rust")
