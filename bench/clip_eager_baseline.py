#!/usr/bin/python3
"""Eager PyTorch baseline for bench/clip_speed: CLIP image and text towers with random weights.

Our own compact re-statement of the CLIP architectures (ViT and modified ResNet, causal text
transformer) in plain torch.nn, so the C++ engine is measured against what a Python user would
run. Prints one JSON object: images/s (or texts/s) per architecture, batch size and precision.

Usage: /usr/bin/python3 bench/clip_eager_baseline.py --threads 2 --arch ViT-B-32 RN50 \
           --batches 1 32 --repeats 5
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# (embed_dim, image_size, vision_layers, vision_width, patch) per official architecture.
ARCHS = {
    "ViT-B-32": (512, 224, 12, 768, 32),
    "ViT-B-16": (512, 224, 12, 768, 16),
    "RN50": (1024, 224, (3, 4, 6, 3), 64, None),
    "RN101": (512, 224, (3, 4, 23, 3), 64, None),
}
TEXT = dict(width=512, heads=8, layers=12, context=77, vocab=49408)


class LayerNorm(nn.LayerNorm):
    """Computes in float32 whatever the input type, as CLIP's own LayerNorm does (autocast-safe)."""

    def forward(self, x):
        return super().forward(x.float()).to(x.dtype)


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class Block(nn.Module):
    def __init__(self, width, heads, causal=False):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, width * 4), QuickGELU(), nn.Linear(width * 4, width))
        self.ln_2 = LayerNorm(width)
        self.causal = causal

    def forward(self, x):
        mask = None
        if self.causal:
            n = x.shape[0]
            mask = torch.full((n, n), float("-inf")).triu_(1).to(x.dtype)
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class ViT(nn.Module):
    def __init__(self, size, patch, width, layers, out):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, patch, patch, bias=False)
        self.cls = nn.Parameter(torch.randn(width) * width**-0.5)
        self.pos = nn.Parameter(torch.randn((size // patch) ** 2 + 1, width) * width**-0.5)
        self.ln_pre = LayerNorm(width)
        self.blocks = nn.Sequential(*[Block(width, width // 64) for _ in range(layers)])
        self.ln_post = LayerNorm(width)
        self.proj = nn.Parameter(torch.randn(width, out) * width**-0.5)

    def forward(self, x):
        x = self.conv1(x).flatten(2).permute(0, 2, 1)
        x = torch.cat([self.cls.to(x.dtype).expand(x.shape[0], 1, -1), x], dim=1) + self.pos.to(x.dtype)
        x = self.blocks(self.ln_pre(x).permute(1, 0, 2)).permute(1, 0, 2)
        return self.ln_post(x[:, 0]) @ self.proj.to(x.dtype)


class Bottleneck(nn.Module):
    def __init__(self, inp, planes, stride):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(inp, planes, 1, bias=False), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False), nn.BatchNorm2d(planes)
        self.pool = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()
        self.conv3, self.bn3 = nn.Conv2d(planes, planes * 4, 1, bias=False), nn.BatchNorm2d(planes * 4)
        self.down = None
        if stride > 1 or inp != planes * 4:
            self.down = nn.Sequential(nn.AvgPool2d(stride), nn.Conv2d(inp, planes * 4, 1, bias=False),
                                      nn.BatchNorm2d(planes * 4))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(self.pool(out)))
        return F.relu(out + (self.down(x) if self.down is not None else x))


class ResNet(nn.Module):
    def __init__(self, layers, width, size, out):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, width // 2, 3, 2, 1, bias=False), nn.BatchNorm2d(width // 2), nn.ReLU(),
            nn.Conv2d(width // 2, width // 2, 3, padding=1, bias=False), nn.BatchNorm2d(width // 2), nn.ReLU(),
            nn.Conv2d(width // 2, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.AvgPool2d(2))
        blocks, inp = [], width
        for i, n in enumerate(layers):
            planes = width * 2**i
            for j in range(n):
                blocks.append(Bottleneck(inp, planes, 1 if i == 0 or j > 0 else 2))
                inp = planes * 4
        self.blocks = nn.Sequential(*blocks)
        embed = width * 32
        self.pos = nn.Parameter(torch.randn((size // 32) ** 2 + 1, embed) / embed**0.5)
        self.attn = nn.MultiheadAttention(embed, embed // 64, kdim=embed, vdim=embed)
        self.c_proj = nn.Linear(embed, out)

    def forward(self, x):
        x = self.blocks(self.stem(x)).flatten(2).permute(2, 0, 1)
        x = torch.cat([x.mean(dim=0, keepdim=True), x], dim=0) + self.pos[:, None, :].to(x.dtype)
        x = self.attn(x[:1], x, x, need_weights=False)[0]
        return self.c_proj(x[0])


class Text(nn.Module):
    def __init__(self, out):
        super().__init__()
        w = TEXT["width"]
        self.tok = nn.Embedding(TEXT["vocab"], w)
        self.pos = nn.Parameter(torch.randn(TEXT["context"], w) * 0.01)
        self.blocks = nn.Sequential(*[Block(w, TEXT["heads"], causal=True) for _ in range(TEXT["layers"])])
        self.ln = LayerNorm(w)
        self.proj = nn.Parameter(torch.randn(w, out) * w**-0.5)

    def forward(self, tokens):
        x = self.tok(tokens) + self.pos
        x = self.ln(self.blocks(x.permute(1, 0, 2)).permute(1, 0, 2))
        return x[torch.arange(x.shape[0]), tokens.argmax(dim=-1)] @ self.proj.to(x.dtype)


def build_visual(arch):
    out, size, layers, width, patch = ARCHS[arch]
    if patch:
        return ViT(size, patch, width, layers, out).eval(), size
    return ResNet(layers, width, size, out).eval(), size


def count_gflops(model, example):
    """Multiply-adds x 2 of convolutions, linear layers and attention for one forward pass."""
    total = [0]

    def conv(m, inp, out):
        total[0] += 2 * out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def linear(m, inp, out):
        total[0] += 2 * out.numel() * m.in_features

    def attention(m, inp, out):
        q, k = inp[0], inp[1]  # [L, N, E] sequence first
        lq, lk, n, e = q.shape[0], k.shape[0], q.shape[1], q.shape[2]
        total[0] += 2 * n * e * e * (lq + 2 * lk) + 2 * 2 * n * lq * lk * e

    hooks = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear))
        elif isinstance(m, nn.MultiheadAttention):
            hooks.append(m.register_forward_hook(attention))
    model(example)
    for h in hooks:
        h.remove()
    return total[0] / 1e9 / example.shape[0]


def time_call(fn, repeats):
    fn()  # warm-up: allocator, oneDNN primitive creation
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--arch", nargs="+", default=["ViT-B-32", "RN50"])
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 32])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--text-batch", type=int, default=32)
    ap.add_argument("--precisions", nargs="+", default=["fp32", "bf16-autocast"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    results = []
    with torch.inference_mode():
        for arch in args.arch:
            model, size = build_visual(arch)
            gflops = count_gflops(model, torch.randn(1, 3, size, size))
            for batch in args.batches:
                images = torch.randn(batch, 3, size, size)
                for precision in args.precisions:
                    def run():
                        if precision == "fp32":
                            return model(images)
                        with torch.autocast("cpu", dtype=torch.bfloat16):
                            return model(images)
                    seconds = time_call(run, args.repeats)
                    results.append(dict(tower="image", arch=arch, batch=batch, precision=precision,
                                        seconds=seconds, per_second=batch / seconds,
                                        gflops_per_item=gflops))
        text = Text(512).eval()
        tokens = torch.randint(1, 49406, (args.text_batch, 77))
        tokens[:, 0] = 49406
        tokens[:, 12] = 49407
        text_gflops = count_gflops(text, tokens[:1])
        for precision in args.precisions:
            def run_text():
                if precision == "fp32":
                    return text(tokens)
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return text(tokens)
            seconds = time_call(run_text, args.repeats)
            results.append(dict(tower="text", arch="ViT-B-32", batch=args.text_batch,
                                precision=precision, seconds=seconds,
                                per_second=args.text_batch / seconds,
                                gflops_per_item=text_gflops))
    print(json.dumps(dict(torch=torch.__version__, threads=args.threads, results=results)))


if __name__ == "__main__":
    main()
