"""pyannote's agglomerative clustering, with clusters that break cannot-links split (optional).

:class:`ConflictAwareClustering` is pyannote's ``AgglomerativeClustering`` (same parameters,
same steps) with one step added between clustering the chunks' speakers and assigning every
embedding to a centroid: :func:`pipeline.stages.conflicts.split_conflicts`, when ``split`` is on
(``diarization.split_conflicts``) and the number of speakers is not given. Only the diarization
loader imports this module (it imports pyannote.audio).
"""

from __future__ import annotations

import numpy as np
from pyannote.audio.pipelines.clustering import AgglomerativeClustering

from pipeline.stages.conflicts import split_conflicts


class ConflictAwareClustering(AgglomerativeClustering):
    split: bool = False

    def __call__(self, embeddings, segmentations=None, num_clusters=None, min_clusters=None, max_clusters=None,
                 **kwargs):
        train, chunk_idx, speaker_idx = self.filter_embeddings(embeddings, segmentations=segmentations)
        num_clusters, min_clusters, max_clusters = self.set_num_clusters(
            train.shape[0], num_clusters=num_clusters, min_clusters=min_clusters, max_clusters=max_clusters)
        if max_clusters < 2:  # as pyannote: no clustering when there can be only one speaker
            num_chunks, num_speakers, _ = embeddings.shape
            return (np.zeros((num_chunks, num_speakers), dtype=np.int8), np.ones((num_chunks, num_speakers, 1)),
                    np.mean(train, axis=0, keepdims=True))
        clusters = self.cluster(train, min_clusters=min_clusters, max_clusters=max_clusters,
                                num_clusters=num_clusters)
        if self.split and num_clusters is None:
            clusters = split_conflicts(train, chunk_idx, clusters, min_size=self.min_cluster_size,
                                       max_clusters=max_clusters)
        return self.assign_embeddings(embeddings, chunk_idx, speaker_idx, clusters,
                                      constrained=self.constrained_assignment)
