"""ImgCoder: scientific figures from an LLM, as explicit stages.

understand → plan → code (matplotlib or TikZ) → render in the sandbox → verify against the plan → repair.
See :class:`ImgCoder` and :class:`ImgCoderConfig`; :func:`make_imgcoder` is the ``imgcoder`` registry factory.
The mini set's reference programs are few-shot material (:func:`select_examples`) and, through
:func:`build_replay_recordings`, the ``replay:`` answers that run the pipeline offline.
"""

from scigenbench.generators.imgcoder.parsing import extract_json, parse_plan, parse_single, parse_understanding
from scigenbench.generators.imgcoder.pipeline import ImgCoder, ImgCoderConfig, make_imgcoder
from scigenbench.generators.imgcoder.prompting import PROMPT_SET_VERSION, PROMPT_VERSIONS
from scigenbench.generators.imgcoder.replay import build_replay_recordings
from scigenbench.generators.imgcoder.references import load_reference, reference_ids, select_examples
from scigenbench.generators.imgcoder.stats import run_stats
from scigenbench.generators.imgcoder.verify import Check, Verification, normalise_label, verify

__all__ = [
    "Check", "ImgCoder", "ImgCoderConfig", "PROMPT_SET_VERSION", "PROMPT_VERSIONS", "Verification",
    "build_replay_recordings", "extract_json", "load_reference", "make_imgcoder", "normalise_label", "parse_plan",
    "parse_single", "parse_understanding", "reference_ids", "run_stats", "select_examples", "verify",
]
