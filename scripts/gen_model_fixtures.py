#!/usr/bin/env python3
"""The networks of clr's `--arch`, defined in PyTorch, and the fixtures that src/model/ is tested
against: for each case, the parameter and buffer names, shapes and counts of the PyTorch module.

The definitions here are the reference for clr's Rust ones (same layers, same order, same names,
same initialisation): scripts/check_export.py loads clr's safetensors exports into them, and
scripts/peer_models.py trains them for the side-by-side benchmark. `build(arch, depth, width,
classes, image_size)` makes one.

Writes tests/fixtures/models/ARCH-dDEPTH[-wWIDTH]-cCLASSES-sSIZE.json. No arguments; deterministic.
Run with the project's Python: .venv/bin/python scripts/gen_model_fixtures.py
"""

import json
import math
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "models"


def he_conv(cin, cout, k, stride=1, padding=None, bias=False, fan="fan_in"):
    """A k×k convolution with He (Kaiming normal, gain √2) weights; zero bias when it has one."""
    conv = nn.Conv2d(cin, cout, k, stride, k // 2 if padding is None else padding, bias=bias)
    nn.init.kaiming_normal_(conv.weight, mode=fan, nonlinearity="relu")
    if bias:
        nn.init.zeros_(conv.bias)
    return conv


def he_linear(cin, cout):
    """He et al.'s classifier: Kaiming normal (fan-in) weights, PyTorch's default bias."""
    fc = nn.Linear(cin, cout)
    nn.init.kaiming_normal_(fc.weight, mode="fan_in", nonlinearity="relu")
    return fc


def bn(c):
    return nn.BatchNorm2d(c)  # PyTorch's defaults: weight 1, bias 0, momentum 0.1, eps 1e-5


# ---- resnet: He et al. 2016, arXiv 1512.03385, section 4.2 (option A shortcuts) --------------


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1, self.bn1 = he_conv(cin, cout, 3, stride), bn(cout)
        self.conv2, self.bn2 = he_conv(cout, cout, 3), bn(cout)
        self.pad = (cout - cin) // 2 if stride != 1 or cin != cout else None

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        s = x if self.pad is None else F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))
        return F.relu(y + s)


class ResNet(nn.Module):
    def __init__(self, depth, classes):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1, self.bn1 = he_conv(3, 16, 3), bn(16)
        cin = 16
        for i, cout in enumerate([16, 32, 64]):
            blocks = []
            for b in range(n):
                blocks.append(BasicBlock(cin, cout, 2 if i > 0 and b == 0 else 1))
                cin = cout
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.fc = he_linear(64, classes)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.layer3(self.layer2(self.layer1(h)))
        return self.fc(h.mean((2, 3)))


# ---- preact-resnet18 and wrn: pre-activation blocks -------------------------------------------
# He et al. 2016, arXiv 1603.05027 (pre-activation); Zagoruyko and Komodakis 2016, arXiv
# 1605.07146 (wide: 16k, 32k, 64k channels, (depth-4)/6 blocks per stage).


class PreActBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1, self.conv1 = bn(cin), he_conv(cin, cout, 3, stride)
        self.bn2, self.conv2 = bn(cout), he_conv(cout, cout, 3)
        if stride != 1 or cin != cout:
            self.shortcut = he_conv(cin, cout, 1, stride, padding=0)

    def forward(self, x):
        a = F.relu(self.bn1(x))
        s = self.shortcut(a) if hasattr(self, "shortcut") else x
        return self.conv2(F.relu(self.bn2(self.conv1(a)))) + s


class PreActResNet(nn.Module):
    def __init__(self, stem, stages, classes, imagenet_stem=False):
        super().__init__()
        if imagenet_stem:  # images larger than 64 px: He et al.'s ImageNet stem
            self.conv1 = he_conv(3, stem, 7, 2, padding=3)
        else:
            self.conv1 = he_conv(3, stem, 3)
        self.imagenet_stem = imagenet_stem
        cin = stem
        for i, (cout, n, stride) in enumerate(stages):
            blocks = []
            for b in range(n):
                blocks.append(PreActBlock(cin, cout, stride if b == 0 else 1))
                cin = cout
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.stages = len(stages)
        self.bn = bn(cin)
        self.fc = he_linear(cin, classes)

    def forward(self, x):
        h = self.conv1(x)
        if self.imagenet_stem:
            h = F.max_pool2d(h, 3, 2, 1)
        for i in range(self.stages):
            h = getattr(self, f"layer{i + 1}")(h)
        return self.fc(F.relu(self.bn(h)).mean((2, 3)))


def preact_resnet18(classes, image_size):
    stages = [(64, 2, 1), (128, 2, 2), (256, 2, 2), (512, 2, 2)]
    return PreActResNet(64, stages, classes, imagenet_stem=image_size > 64)


def wrn(depth, width, classes):
    n = (depth - 4) // 6
    return PreActResNet(16, [(16 * width, n, 1), (32 * width, n, 2), (64 * width, n, 2)], classes)


# ---- densenet: Huang et al. 2017, arXiv 1608.06993, as in Smith's genDensenet40.prototxt -------
# (lnsmith54/hyperParam1): growth 12, no bottleneck, no compression, dropout 0.2 after every
# convolution but the first.

GROWTH, DROPOUT = 12, 0.2


class DenseLayer(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.norm, self.conv = bn(cin), he_conv(cin, GROWTH, 3)

    def forward(self, x):
        new = F.dropout(self.conv(F.relu(self.norm(x))), DROPOUT, self.training)
        return torch.cat([x, new], 1)


class Transition(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm, self.conv = bn(c), he_conv(c, c, 1, padding=0)

    def forward(self, x):
        return F.avg_pool2d(F.dropout(self.conv(F.relu(self.norm(x))), DROPOUT, self.training), 2)


class DenseNet(nn.Module):
    def __init__(self, depth, classes):
        super().__init__()
        n = (depth - 4) // 3
        self.features = nn.Sequential()
        self.features.add_module("conv0", he_conv(3, 16, 3))
        c = 16
        for block in range(3):
            layers = nn.Sequential()
            for i in range(n):
                layers.add_module(f"denselayer{i + 1}", DenseLayer(c))
                c += GROWTH
            self.features.add_module(f"denseblock{block + 1}", layers)
            if block < 2:
                self.features.add_module(f"transition{block + 1}", Transition(c))
        self.features.add_module("norm_final", bn(c))
        self.classifier = nn.Linear(c, classes)
        # Caffe's xavier filler (the prototxt's): U(±√(3/fan_in)), zero bias.
        bound = math.sqrt(3.0 / c)
        nn.init.uniform_(self.classifier.weight, -bound, bound)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, x):
        return self.classifier(F.relu(self.features(x)).mean((2, 3)))


# ---- lenet5: LeCun et al. 1998, "Gradient-based learning applied to document recognition" ------


def scaled_tanh(x):
    return 1.7159 * torch.tanh(x * (2.0 / 3.0))  # the paper's squashing function, A tanh(S a)


def lecun_uniform(layer):
    """The paper's initialisation: U(±2.4 / fan-in), weights and biases."""
    bound = 2.4 / (layer.weight[0].numel())
    nn.init.uniform_(layer.weight, -bound, bound)
    nn.init.uniform_(layer.bias, -bound, bound)
    return layer


class LeNet5(nn.Module):
    def __init__(self, classes, image_size):
        super().__init__()
        self.conv1 = lecun_uniform(nn.Conv2d(3, 6, 5))  # C1
        self.conv2 = lecun_uniform(nn.Conv2d(6, 16, 5))  # C3 (fully connected to S2's maps)
        self.conv3 = lecun_uniform(nn.Conv2d(16, 120, 5))  # C5
        side = ((image_size - 4) // 2 - 4) // 2 - 4
        self.fc1 = lecun_uniform(nn.Linear(120 * side * side, 84))  # F6
        self.fc2 = lecun_uniform(nn.Linear(84, classes))  # the output layer (linear, not RBF)

    def forward(self, x):
        h = F.avg_pool2d(scaled_tanh(self.conv1(x)), 2)  # S2
        h = F.avg_pool2d(scaled_tanh(self.conv2(h)), 2)  # S4
        h = scaled_tanh(self.conv3(h)).flatten(1)
        return self.fc2(scaled_tanh(self.fc1(h)))


# ---- smith3: Caffe's cifar10_full, Smith's cifar3.prototxt (arXiv 1506.01186's CIFAR-10 net) -----


def lrn_within_channel(x, size=3, alpha=5e-5, beta=0.75):
    """Caffe's LRN with norm_region WITHIN_CHANNEL: x / (1 + α·mean of x² over size×size)^β."""
    mean_sq = F.avg_pool2d(x * x, size, 1, size // 2, count_include_pad=True)
    return x * (1.0 + alpha * mean_sq).pow(-beta)


# Caffe's cifar10_full reads mean-subtracted pixels (std about 64 on CIFAR-10), clr standardised
# ones (std 1): the net scales its input back, so that the prototxt's initialisation (conv1's
# std 1e-4) and Smith's LRs (0.001-0.006) behave as in Caffe; unscaled, it does not learn at them.
INPUT_SCALE = 64.0


def caffe_pool_out(side):
    return math.ceil((side - 3) / 2) + 1  # Caffe rounds pooling outputs up


class Smith3(nn.Module):
    def __init__(self, classes, image_size):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 5, padding=2)
        self.conv2 = nn.Conv2d(32, 32, 5, padding=2)
        self.conv3 = nn.Conv2d(32, 64, 5, padding=2)
        side = caffe_pool_out(caffe_pool_out(caffe_pool_out(image_size)))
        self.fc = nn.Linear(64 * side * side, classes)
        for layer, std in [(self.conv1, 1e-4), (self.conv2, 0.01), (self.conv3, 0.01), (self.fc, 0.01)]:
            nn.init.normal_(layer.weight, 0.0, std)  # the prototxt's gaussian fillers
            nn.init.zeros_(layer.bias)

    def forward(self, x):
        h = lrn_within_channel(F.relu(F.max_pool2d(self.conv1(x * INPUT_SCALE), 3, 2, ceil_mode=True)))
        h = lrn_within_channel(F.avg_pool2d(F.relu(self.conv2(h)), 3, 2, ceil_mode=True))
        h = F.avg_pool2d(F.relu(self.conv3(h)), 3, 2, ceil_mode=True)
        return self.fc(h.flatten(1))


# ---- smith-wide: Smith's wide32cifar.prototxt ("widenet32 with k=4") ---------------------------
# The Caffe ResNet of Smith's runs (post-activation, no ReLU after the addition, 2×2 stride-2
# projection shortcuts, biased convolutions) with 16, 16k, 16k² channels.


class WideBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1, self.bn1 = he_conv(cin, cout, 3, stride, bias=True), bn(cout)
        self.conv2, self.bn2 = he_conv(cout, cout, 3, bias=True), bn(cout)
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(he_conv(cin, cout, 2, stride, padding=0, bias=True), bn(cout))

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return y + (self.downsample(x) if hasattr(self, "downsample") else x)


class SmithWide(nn.Module):
    def __init__(self, depth, width, classes):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1, self.bn1 = he_conv(3, 16, 3, bias=True), bn(16)
        cin = 16
        for i in range(3):
            cout = 16 * width**i
            blocks = []
            for b in range(n):
                blocks.append(WideBlock(cin, cout, 2 if i > 0 and b == 0 else 1))
                cin = cout
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(cin, classes)
        nn.init.kaiming_normal_(self.fc.weight, mode="fan_in", nonlinearity="relu")  # msra
        nn.init.zeros_(self.fc.bias)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.layer3(self.layer2(self.layer1(h)))
        return self.fc(h.mean((2, 3)))


def build(arch, depth=None, width=None, classes=10, image_size=32):
    """The network clr builds for these settings (depth and width as in clr's config.json)."""
    if arch == "resnet":
        return ResNet(depth, classes)
    if arch == "preact-resnet18":
        return preact_resnet18(classes, image_size)
    if arch == "wrn":
        return wrn(depth, width, classes)
    if arch == "densenet":
        return DenseNet(depth, classes)
    if arch == "lenet5":
        return LeNet5(classes, image_size)
    if arch == "smith3":
        return Smith3(classes, image_size)
    if arch == "smith-wide":
        return SmithWide(depth, width, classes)
    raise ValueError(f"unknown arch {arch}")


# (arch, depth, width, classes, image size): the papers' sizes and the tests' tiny ones.
CASES = [
    ("resnet", 8, None, 10, 32),
    ("resnet", 20, None, 10, 32),
    ("resnet", 56, None, 100, 32),
    ("preact-resnet18", 18, None, 10, 32),
    ("preact-resnet18", 18, None, 10, 96),
    ("wrn", 10, 1, 10, 32),
    ("wrn", 16, 8, 10, 32),
    ("wrn", 28, 10, 10, 32),
    ("densenet", 7, None, 10, 32),
    ("densenet", 40, None, 10, 32),
    ("densenet", 100, None, 100, 32),
    ("lenet5", 5, None, 10, 32),
    ("lenet5", 5, None, 10, 40),
    ("smith3", 3, None, 10, 32),
    ("smith3", 3, None, 10, 28),
    ("smith-wide", 8, 2, 10, 32),
    ("smith-wide", 32, 4, 10, 32),
]


def case_name(arch, depth, width, classes, image_size):
    w = f"-w{width}" if width is not None else ""
    return f"{arch}-d{depth}{w}-c{classes}-s{image_size}"


def probe_fill(net):
    """Deterministic values for every parameter and statistic (a function of its name and its
    elements' index), so that the Rust test can set the same ones and compare outputs."""
    with torch.no_grad():
        for name, t in list(net.named_parameters()) + list(net.named_buffers()):
            if name.endswith("num_batches_tracked"):
                continue
            v = torch.sin(torch.arange(t.numel(), dtype=torch.float64) * 0.37 + len(name))
            if name.endswith("running_var"):
                v = 1.0 + 0.5 * v * v
            elif t.dim() >= 2:
                v = v / math.sqrt(t[0].numel())  # fan-in
            else:
                v = 0.1 * v
            t.copy_(v.view(t.shape).to(t.dtype))


def probe_input(image_size):
    n = 2 * 3 * image_size * image_size
    return torch.sin(torch.arange(n, dtype=torch.float64) * 0.05).view(2, 3, image_size, image_size).float()


# Networks up to this size get a probe: their evaluation-mode output on probe values.
PROBE_MAX_PARAMETERS = 12_000_000


def fixture(arch, depth, width, classes, image_size):
    torch.manual_seed(0)
    net = build(arch, depth, width, classes, image_size).eval()
    count = sum(p.numel() for p in net.parameters())
    probe = None
    if count <= PROBE_MAX_PARAMETERS:
        probe_fill(net)
        with torch.no_grad():
            probe = net(probe_input(image_size)).tolist()
    else:
        with torch.no_grad():
            assert net(torch.zeros(2, 3, image_size, image_size)).shape == (2, classes)
    return {
        "arch": arch,
        "depth": depth,
        "width": width,
        "classes": classes,
        "image_size": image_size,
        "parameters": [[n, list(p.shape)] for n, p in net.named_parameters()],
        "buffers": [[n, list(b.shape)] for n, b in net.named_buffers()],
        "parameter_count": count,
        "probe_output": probe,
        "torch": torch.__version__,
    }


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for case in CASES:
        fx = fixture(*case)
        path = OUT / f"{case_name(*case)}.json"
        path.write_text(json.dumps(fx, indent=1) + "\n")
        print(f"{path.name}: {fx['parameter_count']:,} parameters")


if __name__ == "__main__":
    main()
