"""scigenbench: SciGenBench and ImgCoder on the Hugging Face stack.

Sub-packages (each a folder of the repository, see README "Layout"):

- ``scigenbench.dataset``    problem schema, taxonomy, loading, validation, mini set, run folders
- ``scigenbench.generators`` the Generator interface, model backends, ImgCoder, sandbox, Diffusers, image APIs
- ``scigenbench.metrics``    scoring (judge, inverse quiz, R_inv, fidelity), aggregation, leaderboard
- ``scigenbench.training`` synthesis of verified training data, exports, rewards, recipes
- ``scigenbench.app``        the Gradio Space
- ``scigenbench.scripts``    the ``scigenbench`` command line

Importing this package imports nothing heavy.
"""

__version__ = "0.1.0"
