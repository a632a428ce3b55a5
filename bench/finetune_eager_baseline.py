#!/usr/bin/python3
"""Eager PyTorch baseline for bench/finetune_speed: one fine-tuning step of the ViT-B/32 text tower.

The step the paper's recipe runs in Python: the prompts of every class through CLIP's text
transformer at the full 77-token context, cross-entropy over logit_scale.exp() * cosine against a
batch of cached image embeddings (the image encoder is frozen), backward, AdamW (weight decay on
every trainable tensor), CosineAnnealingLR stepped per step. Random weights (our own compact
re-statement of the text tower in plain torch.nn, as in bench/clip_eager_baseline.py); the timing
does not depend on the values.

Prints one JSON object: seconds per step (mean over the steps after a warm-up step).

Usage: /usr/bin/python3 bench/finetune_eager_baseline.py --threads 2 --tokens prompts.json \
           --images 80 --batch 16 --steps 20
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

WIDTH, HEADS, LAYERS, CONTEXT, VOCAB, EMBED = 512, 8, 12, 77, 49408, 512


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(WIDTH, HEADS)
        self.ln_1 = nn.LayerNorm(WIDTH)
        self.mlp = nn.Sequential(nn.Linear(WIDTH, WIDTH * 4), QuickGELU(), nn.Linear(WIDTH * 4, WIDTH))
        self.ln_2 = nn.LayerNorm(WIDTH)

    def forward(self, x, mask):
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class TextTower(nn.Module):
    """CLIP's encode_text (openai/CLIP model.py), sequence-first as the reference runs it."""

    def __init__(self):
        super().__init__()
        self.token_embedding = nn.Embedding(VOCAB, WIDTH)
        self.positional_embedding = nn.Parameter(torch.randn(CONTEXT, WIDTH) * 0.01)
        self.blocks = nn.ModuleList([Block() for _ in range(LAYERS)])
        self.ln_final = nn.LayerNorm(WIDTH)
        self.text_projection = nn.Parameter(torch.randn(WIDTH, EMBED) * WIDTH**-0.5)
        self.register_buffer("mask", torch.full((CONTEXT, CONTEXT), float("-inf")).triu_(1))

    def forward(self, tokens):
        x = (self.token_embedding(tokens) + self.positional_embedding).permute(1, 0, 2)
        for block in self.blocks:
            x = block(x, self.mask)
        x = self.ln_final(x.permute(1, 0, 2))
        return x[torch.arange(x.shape[0]), tokens.argmax(dim=-1)] @ self.text_projection


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tokens", required=True, help="JSON list of 77-id rows, one per class")
    ap.add_argument("--images", type=int, default=80, help="training images (cached embeddings)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--lr", type=float, default=5e-6)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    with open(args.tokens) as f:
        tokens = torch.tensor(json.load(f), dtype=torch.long)
    classes = tokens.shape[0]
    model = TextTower().eval()  # eval(): no dropout anywhere, as in the reference run
    logit_scale = torch.tensor(math.log(100.0))  # frozen
    images = F.normalize(torch.randn(args.images, EMBED), dim=-1)  # frozen encoder, cached
    labels = torch.arange(args.images) % classes

    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-3)
    total = args.steps + 1
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    order = torch.randperm(args.images)

    def step(i):
        rows = order[(i * args.batch) % args.images:][: args.batch]
        text = F.normalize(model(tokens), dim=-1)
        logits = logit_scale.exp() * images[rows] @ text.t()
        loss = F.cross_entropy(logits, labels[rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        return loss.item()

    step(0)  # warm-up: allocator, optimizer state
    samples = []
    for i in range(1, total):
        t0 = time.perf_counter()
        step(i)
        samples.append(time.perf_counter() - t0)
    print(json.dumps(dict(torch=torch.__version__, threads=args.threads, classes=classes,
                          context=CONTEXT, batch=args.batch, steps=len(samples),
                          seconds_per_step=statistics.mean(samples),
                          median_seconds_per_step=statistics.median(samples))))


if __name__ == "__main__":
    main()
