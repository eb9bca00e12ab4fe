"""The problem row contract: ``datasets.Features`` shared by every config (``scigen``, ``seephys``, ``mini``).

One row per problem::

    id, source, domain, image_type, question, answer, elements,
    quizzes[{question, options{A..E}, correct_option, evidence, scorable, defects, extra}],
    multimodal_question, flags, image

Options are a fixed struct of letters ``A``-``E``; a letter that is not offered is ``None``. The letters offered
are :func:`quiz_letters`. ``quiz.extra`` is ``None`` or a JSON object string (see :mod:`.validation`).
"""

from __future__ import annotations

from typing import Any, Mapping

#: option letters a quiz may offer, in order
OPTION_LETTERS: tuple[str, ...] = ("A", "B", "C", "D", "E")

#: config names and the ``source`` value their rows carry
SOURCES: tuple[str, ...] = ("scigen", "seephys", "mini")


def problem_features():
    """Return the :class:`datasets.Features` of a problem row (imports ``datasets`` on first use)."""
    import datasets

    string = datasets.Value("string")
    quiz = {
        "question": string,
        "options": {letter: string for letter in OPTION_LETTERS},
        "correct_option": string,
        "evidence": string,
        "scorable": datasets.Value("bool"),
        "defects": [string],
        "extra": string,
    }
    return datasets.Features(
        {
            "id": string,
            "source": string,
            "domain": string,
            "image_type": string,
            "question": string,
            "answer": string,
            "elements": [string],
            "quizzes": [quiz],
            "multimodal_question": string,
            "flags": [string],
            "image": datasets.Image(),
        }
    )


def quiz_letters(quiz: Mapping[str, Any]) -> list[str]:
    """Letters a quiz offers: those whose option value is not ``None``, in letter order.

    >>> quiz_letters({"options": {"A": "1", "B": "2", "C": "3", "D": "4", "E": None}})
    ['A', 'B', 'C', 'D']
    """
    options = quiz.get("options") or {}
    return [letter for letter in OPTION_LETTERS if options.get(letter) is not None]
