"""hwnas profiler agent: measures models on this device and reports to the server over HTTP.

Needs neither torch nor SQLAlchemy nor Celery; runtimes (onnxruntime, tensorrt, torch) are
imported only when their backend is selected (:mod:`profiler_agent.backends`).
"""
