#!/usr/bin/env python3
"""Test data for a2x's ONNX interpreter (issue #34), from PyPI packages only (torch, torchvision,
onnx, onnxruntime; random weights, nothing from a model hub).

For each architecture: the .onnx export (dynamic batch); NAME.f32, three fixed images and PyTorch's
input gradient of one class's logit summed over them (little-endian float32, images first); and
NAME.json with onnxruntime's logits of the images. The inputs are a2x's
images (RGB in [0, 1], NCHW); each file takes them as they are (no preprocessing), so the Rust
test loads it with range 1, mean 0, std 1.

    python scripts/onnx_testdata.py tests/data/onnx          # the small ones, committed
    python scripts/onnx_testdata.py target/onnx-full --full  # full-size torchvision models
    python scripts/onnx_testdata.py tests/data/onnx --zoo squeezenet.onnx [--name squeezenet]
        # onnxruntime's logits of `a2x export-onnx`'s file on two images (zoo-NAME.json,
        # zoo-NAME.f32): tests/onnx.rs compares the zoo's hand-written model with them

Random networks tend to give nearly the same logits for every input; the script checks that its
inputs give clearly different ones (they differ by at least 1 % of the logits' range, 100 times
the test's tolerance of 1e-4 of the largest logit), or the comparison would prove little.
"""
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn
import torchvision

torch.manual_seed(0)


class Residual(nn.Module):
    """ResNet's basic block: conv-BN-ReLU twice, a projection when the shape changes, Add."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.skip = nn.Sequential() if stride == 1 and cin == cout else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        return torch.relu(self.body(x) + self.skip(x))


def mini_resnet():
    return nn.Sequential(
        nn.Conv2d(3, 16, 7, 2, 3, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
        Residual(16, 16, 1), Residual(16, 32, 2), Residual(32, 64, 2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation as MobileNetV3 and EfficientNet have it."""

    def __init__(self, c, gate):
        super().__init__()
        self.fc1, self.fc2, self.gate = nn.Conv2d(c, c // 4, 1), nn.Conv2d(c // 4, c, 1), gate

    def forward(self, x):
        s = x.mean((2, 3), keepdim=True)
        return x * self.gate(self.fc2(torch.relu(self.fc1(s))))


class Inverted(nn.Module):
    """MobileNet's inverted residual: expand 1×1, depthwise 3×3, project 1×1, with an activation."""

    def __init__(self, cin, cout, stride, act, se=None):
        super().__init__()
        mid = cin * 4
        layers = [nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), act(),
                  nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), nn.BatchNorm2d(mid), act()]
        if se:
            layers.append(SqueezeExcite(mid, se))
        layers += [nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.body(x)
        return x + y if self.residual else y


def mini_mobilenet_v3():
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.Hardswish(),
        Inverted(16, 16, 1, nn.Hardswish, nn.Hardsigmoid()), Inverted(16, 24, 2, nn.Hardswish, nn.Hardsigmoid()),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(24, 64), nn.Hardswish(), nn.Dropout(0.2), nn.Linear(64, 10))


def mini_efficientnet():
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.SiLU(),
        Inverted(16, 16, 1, nn.SiLU, nn.Sigmoid()), Inverted(16, 32, 2, nn.SiLU, nn.Sigmoid()),
        nn.Conv2d(32, 64, 1), nn.SiLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(64, 10))


class Dense(nn.Module):
    """DenseNet: each layer's output concatenated to its input; a transition with AvgPool."""

    def __init__(self, c, growth):
        super().__init__()
        self.layer = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, growth, 3, 1, 1, bias=False))

    def forward(self, x):
        return torch.cat([x, self.layer(x)], 1)


def mini_densenet():
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, 1, 1, bias=False), Dense(16, 8), Dense(24, 8),
        nn.BatchNorm2d(32), nn.ReLU(), nn.Conv2d(32, 16, 1, bias=False), nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False),
        Dense(16, 8), nn.BatchNorm2d(24), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(24, 10))


class ConvNeXtBlock(nn.Module):
    """ConvNeXt: depthwise 7×7, LayerNorm over channels (channels last), MLP with GELU, layer scale."""

    def __init__(self, c):
        super().__init__()
        self.dw = nn.Conv2d(c, c, 7, 1, 3, groups=c)
        self.norm = nn.LayerNorm(c, eps=1e-6)
        self.fc1, self.fc2 = nn.Linear(c, 4 * c), nn.Linear(4 * c, c)
        self.scale = nn.Parameter(torch.full((c,), 0.5))

    def forward(self, x):
        y = self.dw(x).permute(0, 2, 3, 1)
        y = self.fc2(nn.functional.gelu(self.fc1(self.norm(y)))) * self.scale
        return x + y.permute(0, 3, 1, 2)


def mini_convnext():
    return nn.Sequential(
        nn.Conv2d(3, 32, 4, 4), ConvNeXtBlock(32), ConvNeXtBlock(32),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.LayerNorm(32), nn.Linear(32, 10))


def mini_regnet():
    """RegNet's X block: 1×1, grouped 3×3, 1×1 with a residual; ReLU."""
    class Block(nn.Module):
        def __init__(self, c, groups):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
                                      nn.Conv2d(c, c, 3, 1, 1, groups=groups, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
                                      nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c))

        def forward(self, x):
            return torch.relu(x + self.body(x))
    return nn.Sequential(nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
                         Block(32, 4), Block(32, 8), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))


def mini_vgg():
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
        nn.Flatten(), nn.Linear(32 * 8 * 8, 64), nn.ReLU(), nn.Dropout(), nn.Linear(64, 10))


def small_models():
    """(name, module, side): small versions of each family, and torchvision's own classes where small."""
    return [
        ("resnet", mini_resnet(), 64),
        ("mobilenet-v2", torchvision.models.mobilenet_v2(width_mult=0.25, num_classes=10), 64),
        ("mobilenet-v3", mini_mobilenet_v3(), 64),
        ("efficientnet", mini_efficientnet(), 64),
        ("densenet", mini_densenet(), 32),
        ("squeezenet", torchvision.models.squeezenet1_1(num_classes=10), 64),
        ("regnet", mini_regnet(), 64),
        ("convnext", mini_convnext(), 64),
        ("vgg", mini_vgg(), 64),
        ("vit", torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=10), 32),
    ]


def full_models():
    m = torchvision.models
    return [(name, fn(), 224) for name, fn in [
        ("resnet50", m.resnet50), ("mobilenet-v2-full", m.mobilenet_v2), ("mobilenet-v3-large", m.mobilenet_v3_large),
        ("efficientnet-b0", m.efficientnet_b0), ("densenet121", m.densenet121), ("squeezenet1_1", m.squeezenet1_1),
        ("regnet-y-400mf", m.regnet_y_400mf), ("convnext-tiny", m.convnext_tiny), ("vit-b-16", m.vit_b_16), ("vgg16", m.vgg16)]]


def randomise(model):
    """Weights that keep the activations' scale through the network (He initialisation by fan-in;
    torchvision's own initialisations make near-zero logits at random, ViT's head starts at zero)
    and random BatchNorm statistics (freshly built ones are the identity, which hides errors)."""
    for mod in model.modules():
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(mod.weight, mode="fan_in", nonlinearity="relu")
            if mod.bias is not None:
                mod.bias.data.uniform_(-0.1, 0.1)
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.2, 0.2)
            mod.running_var.uniform_(0.5, 1.5)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.2, 0.2)


def zoo_check(out, exported, name):
    """onnxruntime's logits of a2x's exported zoo model on a smooth image and noise."""
    model = onnx.load(exported)
    onnx.checker.check_model(model)
    side = model.graph.input[0].type.tensor_type.shape.dim[2].dim_value
    inputs = torch.rand(2, 3, side, side, generator=torch.Generator().manual_seed(2))
    yy, xx = torch.meshgrid(torch.linspace(0, 1, side), torch.linspace(0, 1, side), indexing="ij")
    inputs[0] = torch.stack([xx, yy, 1 - xx])
    logits = ort.InferenceSession(exported, providers=["CPUExecutionProvider"]).run(None, {"image": inputs.numpy()})[0]
    inputs.numpy().ravel().astype("<f4").tofile(out / f"zoo-{name}.f32")
    (out / f"zoo-{name}.json").write_text(json.dumps({"side": side, "images": 2, "classes": int(logits.shape[1]), "logits": logits.ravel().tolist(),
                                                         "top1": [int(i) for i in logits.argmax(1)]}))
    print(f"zoo {name}: onnxruntime's top-1 {logits.argmax(1).tolist()}")


def main():
    out = Path(sys.argv[1])
    full = "--full" in sys.argv
    out.mkdir(parents=True, exist_ok=True)
    if "--zoo" in sys.argv:
        name = sys.argv[sys.argv.index("--name") + 1] if "--name" in sys.argv else "squeezenet"
        return zoo_check(out, sys.argv[sys.argv.index("--zoo") + 1], name)
    for name, model, side in (full_models() if full else small_models()):
        randomise(model)
        model.eval()
        inputs = torch.rand(3, 3, side, side, generator=torch.Generator().manual_seed(1))
        # Different pictures: a smooth one, a striped one, noise.
        yy, xx = torch.meshgrid(torch.linspace(0, 1, side), torch.linspace(0, 1, side), indexing="ij")
        inputs[0] = torch.stack([xx, yy, 1 - xx])
        inputs[1] = ((torch.sin(xx * 25) > 0).float()).expand(3, side, side) * 0.8 + 0.1
        path = out / f"{name}.onnx"
        torch.onnx.export(model, inputs[:1], path, opset_version=17, dynamo=False, do_constant_folding=True,
                          input_names=["image"], output_names=["logits"], dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
        onnx.checker.check_model(onnx.load(path))
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        logits = session.run(None, {"image": inputs.numpy()})[0]
        spread = float(np.abs(logits - logits.mean(0)).max() / (logits.max() - logits.min()))
        if spread < 0.01:
            raise SystemExit(f"{name}: the inputs give nearly the same logits (spread {spread:.3f})")
        target = int(np.argmax(logits[2]))
        x = inputs.clone().requires_grad_(True)
        with torch.no_grad():
            torch_logits = model(inputs).numpy()
        model(x)[:, target].sum().backward()
        ops = sorted({n.op_type for n in onnx.load(path).graph.node})
        # The inputs and the gradient as little-endian float32, one after the other.
        np.concatenate([inputs.numpy().ravel(), x.grad.numpy().ravel()]).astype("<f4").tofile(out / f"{name}.f32")
        record = {
            "name": name, "side": side, "images": int(inputs.shape[0]), "classes": int(logits.shape[1]), "opset": 17, "operators": ops,
            "logits": logits.ravel().tolist(), "torch_logits_max_difference": float(np.abs(torch_logits - logits).max()),
            "target": target, "spread": spread,
        }
        (out / f"{name}.json").write_text(json.dumps(record))
        print(f"{name}: {path.stat().st_size / 1e6:.2f} MB, {len(ops)} operators ({', '.join(ops)}), spread {spread:.2f}")


if __name__ == "__main__":
    main()
