"""transformers-side anchors for the benchmarks: an HF model class with llmkit's pooling, so both sides run the
same architecture and weights."""
from __future__ import annotations


def mean_pooled_classifier_class():
    from transformers import BertForSequenceClassification
    from transformers.modeling_outputs import SequenceClassifierOutput

    from llmkit.modeling import mean_pool

    class MeanPooledBertForSequenceClassification(BertForSequenceClassification):
        """BertForSequenceClassification with mean pooling (llmkit's default) instead of the [CLS] pooler."""

        def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
            import torch.nn.functional as F

            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state
            logits = self.classifier(self.dropout(mean_pool(hidden, attention_mask)))
            loss = F.cross_entropy(logits, labels) if labels is not None else None
            return SequenceClassifierOutput(loss=loss, logits=logits)

    return MeanPooledBertForSequenceClassification
