"""A small modeling module shaped like transformers' modeling_bert.py (5.x): nn.Linear projections,
a module-level eager_attention_forward(module, query, key, value, ...) with the two attention
matmuls, and RoBERTa's integer cumsum for position ids. The AST rules and the patching machinery
are tested on it without transformers."""
from types import SimpleNamespace

import torch
from torch import nn


def eager_attention_forward(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    attn_weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        attn_weights = attn_weights + attention_mask
    attn_weights = nn.functional.softmax(attn_weights, dim=-1)
    attn_weights = nn.functional.dropout(attn_weights, p=dropout, training=module.training)
    attn_output = torch.matmul(attn_weights, value)
    return attn_output.transpose(1, 2).contiguous(), attn_weights


def create_position_ids_from_input_ids(input_ids, padding_idx):
    mask = input_ids.ne(padding_idx).int()
    incremental_indices = torch.cumsum(mask, dim=1).type_as(mask) * mask
    return incremental_indices.long() + padding_idx


class TinySelfAttention(nn.Module):
    def __init__(self, hidden, heads):
        super().__init__()
        self.heads = heads
        self.head_dim = hidden // heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)

    def forward(self, hidden_states, attention_mask):
        shape = (*hidden_states.shape[:-1], self.heads, self.head_dim)
        q = self.query(hidden_states).view(shape).transpose(1, 2)
        k = self.key(hidden_states).view(shape).transpose(1, 2)
        v = self.value(hidden_states).view(shape).transpose(1, 2)
        out, _ = eager_attention_forward(self, q, k, v, attention_mask, self.head_dim**-0.5)
        return out.reshape(*hidden_states.shape[:-1], -1)


class TinyLayer(nn.Module):
    def __init__(self, hidden, heads):
        super().__init__()
        self.attention = TinySelfAttention(hidden, heads)
        self.attention_output = nn.Linear(hidden, hidden)
        self.norm1 = nn.LayerNorm(hidden)
        self.intermediate = nn.Linear(hidden, 4 * hidden)
        self.output = nn.Linear(4 * hidden, hidden)
        self.norm2 = nn.LayerNorm(hidden)

    def forward(self, x, mask):
        x = self.norm1(x + self.attention_output(self.attention(x, mask)))
        return self.norm2(x + self.output(nn.functional.gelu(self.intermediate(x))))


class TinyForSequenceClassification(nn.Module):
    def __init__(self, vocab=50, hidden=16, heads=2, layers=2, labels=3, max_positions=40):
        super().__init__()
        self.config = SimpleNamespace(vocab_size=vocab, label2id={"a": 0, "b": 1, "c": 2})
        self.word_embeddings = nn.Embedding(vocab, hidden)
        self.position_embeddings = nn.Embedding(max_positions, hidden)
        self.layers = nn.ModuleList([TinyLayer(hidden, heads) for _ in range(layers)])
        self.classifier = nn.Linear(hidden, labels)

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        positions = create_position_ids_from_input_ids(input_ids, 0)
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions)
        mask = (1.0 - attention_mask[:, None, None, :].float()) * -1e4
        for layer in self.layers:
            x = layer(x, mask)
        return SimpleNamespace(logits=self.classifier(x[:, 0]))
