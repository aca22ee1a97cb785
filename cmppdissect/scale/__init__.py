"""Scale-out analysis on Dask with the same answers as one machine (docs/scale.md).

Files of one capture point (a *host*) are one chain read as one stream by the one engine, in
one task (:mod:`.hosts`, :mod:`.parts`); hosts run in parallel on Dask workers
(:mod:`.dask`, the only module that imports Dask); their parts are merged by key, sans-IO
(:mod:`.merge`), and each host writes its share of the Parquet dataset (:mod:`.dataset`).
``cmppdissect.analyze_many`` and ``cmppdissect analyze --dask`` drive it.
"""
