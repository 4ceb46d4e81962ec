"""Batch inference on Ray Data: ``llmkit batch TASK --input GLOB --output DIR``.

A shell over the library (like ``serve`` and ``ui``): the workers call the same task pipelines as the CLI verbs.
``inputs`` turns files into deterministic shards (no Ray), ``runners`` runs one task on a shard's rows (no Ray),
``job`` drives Ray Data: read shards -> ``map_batches`` with one actor per model -> atomic shard files.
"""
