"""Scale out on existing engines: embedding jobs on a Ray cluster (``simmatch.scale.ray_job``)
writing Parquet shards of ``(id, vector)`` (``simmatch.scale.shards``) that ``Index.add`` takes
without re-encoding. Nothing here imports Ray until a job runs (``pip install 'simmatch[ray]'``).

```python
from simmatch.scale import RayOptions, embed_corpus, load_shards

embed_corpus("corpus.jsonl", "shards/", "multilingual-e5-small", options=RayOptions(actors=4))
ids, embeddings = load_shards("shards/")   # index.add(documents, vectors=embeddings)
```

See docs/scale.md.
"""

from simmatch.scale.options import RayOptions
from simmatch.scale.ray_job import embed_corpus
from simmatch.scale.shards import load_shards

__all__ = ["RayOptions", "embed_corpus", "load_shards"]
