"""PNG figures the API and the CLI serve (matplotlib, headless).

Each figure imports matplotlib when it is drawn: the API server and every CLI command start
without it (about 0.27 s of CPU, ``python -X importtime``).
"""
