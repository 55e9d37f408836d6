"""The ``universal_ner_span`` pipe: queries -> encoder batches (``batch``), the torch module
(``module``), the thinc model and its shipped weights (``model``, ``pretrained/``), candidate
spans (``suggesters``) and the component (``component``)."""
