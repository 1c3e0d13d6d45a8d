"""The cluster (data plane): source data, annotations, gold sets, the annotation app."""
