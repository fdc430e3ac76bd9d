"""Trains roadsight's plate recogniser (a small CTC CNN) and exports it to ONNX.

Input: folders written by `roadsight eval plates --dump-lines DIR` (PNG lines exactly as the
reader composes them, plus `lines.csv`: file,label,rows,holdout,source). Lines whose `holdout`
is 1 (the held-out fifth of the development crops, by the same FNV-1a rule as
`roadsight eval plates --split holdout`) are never trained on.

Model: 3x32x192 RGB line, (x/255 - 0.5) / 0.5 -> five 3x3 conv layers with max-pooling and a
2x1 conv down to one row of 48 steps -> two 1x3 temporal convs -> 37 classes (CTC blank + 0-9
A-Z) -> softmax. Every conv but the head has batch normalisation, folded into it on export.
Exported by hand with the `onnx` helper (Conv, Relu, MaxPool, Squeeze, Transpose, Softmax),
input `x` [N, 3, 32, 192], output `probabilities` [N, 48, 37], the alphabet in the metadata
key `character`. The export is checked against the JAX model with onnxruntime.

    pip install -r scripts/plate_rec/requirements.txt
    python train.py --lines /tmp/lines-synth --real-lines /tmp/lines-dev --out models/plate-rec/roadsight_plate_rec.onnx
    python train.py --init-only --out ...   # an untrained model with the right geometry
"""

import argparse
import csv
import io
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import onnx
import optax
from onnx import TensorProto, helper, numpy_helper
from PIL import Image, ImageFilter

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
HEIGHT, WIDTH, STEPS = 32, 192, 48
CLASSES = len(ALPHABET) + 1
MAX_LABEL = 16

# (name, in, out, kernel h, kernel w, padding h, padding w, pool after (h, w) or None)
LAYERS = [
    ("c1", 3, 24, 3, 3, 1, 1, (2, 2)),
    ("c2", 24, 48, 3, 3, 1, 1, (2, 2)),
    ("c3", 48, 96, 3, 3, 1, 1, None),
    ("c4", 96, 96, 3, 3, 1, 1, (2, 1)),
    ("c5", 96, 128, 3, 3, 1, 1, (2, 1)),
    ("c6", 128, 160, 2, 1, 0, 0, None),
    ("t1", 160, 160, 1, 3, 0, 1, None),
    ("t2", 160, 160, 1, 3, 0, 1, None),
    ("head", 160, CLASSES, 1, 1, 0, 0, None),
]


def init_params(key):
    params, state = {}, {}
    for name, cin, cout, kh, kw, _, _, _ in LAYERS:
        key, sub = jax.random.split(key)
        fan_in = cin * kh * kw
        params[name] = {
            "w": jax.random.normal(sub, (kh, kw, cin, cout)) * np.sqrt(2.0 / fan_in),
            "b": jnp.zeros((cout,)),
        }
        if name != "head":
            # Batch normalisation after every conv but the head; folded into the conv on export.
            params[name]["gamma"] = jnp.ones((cout,))
            state[name] = {"mean": jnp.zeros((cout,)), "var": jnp.ones((cout,))}
    return params, state


BN_EPS, BN_MOMENTUM = 1e-5, 0.9


def forward(params, state, x, train=False):
    """x: [B, 32, 192, 3] normalised -> (logits [B, 48, classes], new batch-norm state)."""
    new_state = {}
    for name, _, _, _, _, ph, pw, pool in LAYERS:
        x = jax.lax.conv_general_dilated(
            x, params[name]["w"], (1, 1), [(ph, ph), (pw, pw)],
            dimension_numbers=("NHWC", "HWIO", "NHWC"))
        if name != "head":
            if train:
                mean = x.mean(axis=(0, 1, 2))
                var = x.var(axis=(0, 1, 2))
                new_state[name] = {
                    "mean": BN_MOMENTUM * state[name]["mean"] + (1 - BN_MOMENTUM) * mean,
                    "var": BN_MOMENTUM * state[name]["var"] + (1 - BN_MOMENTUM) * var,
                }
            else:
                mean, var = state[name]["mean"], state[name]["var"]
                new_state[name] = state[name]
            x = (x - mean) / jnp.sqrt(var + BN_EPS) * params[name]["gamma"] + params[name]["b"]
            x = jax.nn.relu(x)
        else:
            x = x + params[name]["b"]
        if pool:
            x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, pool[0], pool[1], 1),
                                      (1, pool[0], pool[1], 1), "VALID")
    return x[:, 0, :, :], new_state


def folded(params, state, name):
    """A layer's conv weights (HWIO) and bias with its batch normalisation folded in."""
    w, b = np.asarray(params[name]["w"]), np.asarray(params[name]["b"])
    if name == "head":
        return w, b
    scale = np.asarray(params[name]["gamma"]) / np.sqrt(np.asarray(state[name]["var"]) + BN_EPS)
    return w * scale, b - np.asarray(state[name]["mean"]) * scale


def suspect_label(text, rows):
    """A two-row Vietnamese-looking label whose series letter is a digit."""
    return rows == "2" and len(text) >= 7 and text[:2].isdigit() and text[2].isdigit()


def load_lines(folders, real_folders):
    images, labels, weights, holdout = [], [], [], []
    for folder in folders + real_folders:
        with open(os.path.join(folder, "lines.csv")) as f:
            for row in csv.DictReader(f):
                text = row["label"]
                # A few development labels were made with OCR help and read the series letter of a
                # Vietnamese plate as a digit (`60-87366.38` for 60-B7 366.38): never train on
                # those. They still count against the reader when it is evaluated.
                if folder in real_folders and row["holdout"] != "1" and suspect_label(text, row["rows"]):
                    continue
                label = [ALPHABET.index(c) + 1 for c in text if c in ALPHABET]
                if not label or len(label) > MAX_LABEL:
                    continue
                image = Image.open(os.path.join(folder, row["file"])).convert("RGB")
                if image.size != (WIDTH, HEIGHT):
                    continue
                images.append(np.asarray(image))
                labels.append(label)
                holdout.append(row["holdout"] == "1")
                weights.append(3.0 if folder in real_folders else 1.0)
    return np.stack(images), labels, np.array(weights), np.array(holdout)


def low_resolution(line, rng, compressed_share=0.0):
    """The line as the reader composes it from a plate only a few pixels high in the frame (20-40
    px high, each row of a two-row plate 8-16 px): area-averaged down, then bilinear back up, as
    the reader's warp enlarges it. A `compressed_share` of them is also blurred a little and
    JPEG-compressed at that small size first, as a video encoder smooths and blocks a plate a few
    pixels high."""
    scale_h = rng.uniform(0.22, 0.75)
    scale_w = scale_h * rng.uniform(0.8, 1.25)
    small = Image.fromarray(line).resize((max(8, round(WIDTH * scale_w)), max(5, round(HEIGHT * scale_h))),
                                         Image.BOX)
    if compressed_share > 0 and rng.random() < compressed_share:
        if rng.random() < 0.5:
            small = small.filter(ImageFilter.GaussianBlur(rng.uniform(0.2, 0.6)))
        buf = io.BytesIO()
        small.save(buf, "JPEG", quality=int(rng.integers(30, 86)))
        buf.seek(0)
        small = Image.open(buf).convert("RGB")
    return np.asarray(small.resize((WIDTH, HEIGHT), Image.BILINEAR))


def augment(batch, rng, low_resolution_share=0.0, compressed_share=0.0):
    n = len(batch)
    if low_resolution_share > 0:
        batch = np.stack([low_resolution(line, rng, compressed_share) if rng.random() < low_resolution_share else line
                          for line in batch])
    x = batch.astype(np.float32)
    contrast = rng.uniform(0.6, 1.3, (n, 1, 1, 1))
    bright = rng.uniform(-40, 40, (n, 1, 1, 1))
    x = (x - 128) * contrast + 128 + bright
    x += rng.normal(0, rng.uniform(0, 10), x.shape)
    shift = rng.integers(-3, 4, n)
    for i in range(n):
        if shift[i]:
            x[i] = np.roll(x[i], shift[i], axis=1)
    if rng.random() < 0.5:  # colour channel shuffle: plates come in several colours
        x = x[..., rng.permutation(3)]
    return (np.clip(x, 0, 255) / 255.0 - 0.5) / 0.5


def normalise(batch):
    return (batch.astype(np.float32) / 255.0 - 0.5) / 0.5


def pack_labels(labels):
    out = np.zeros((len(labels), MAX_LABEL), np.int32)
    pad = np.ones((len(labels), MAX_LABEL), np.float32)
    for i, label in enumerate(labels):
        out[i, :len(label)] = label
        pad[i, :len(label)] = 0
    return out, pad


def greedy(logits):
    best = np.asarray(logits).argmax(-1)
    texts = []
    for row in best:
        text, prev = [], 0
        for c in row:
            if c != prev and c != 0:
                text.append(ALPHABET[c - 1])
            prev = c
        texts.append("".join(text))
    return texts


def export(params, state, path):
    nodes, inits = [], []
    current = "x"
    for name, _, _, _, kw, ph, pw, pool in LAYERS:
        w, b = folded(params, state, name)
        w = w.transpose(3, 2, 0, 1).astype(np.float32)  # OIHW
        b = b.astype(np.float32)
        inits += [numpy_helper.from_array(w, f"{name}.w"), numpy_helper.from_array(b, f"{name}.b")]
        nodes.append(helper.make_node("Conv", [current, f"{name}.w", f"{name}.b"], [f"{name}.conv"],
                                      kernel_shape=list(w.shape[2:]), pads=[ph, pw, ph, pw]))
        current = f"{name}.conv"
        if name != "head":
            nodes.append(helper.make_node("Relu", [current], [f"{name}.relu"]))
            current = f"{name}.relu"
        if pool:
            nodes.append(helper.make_node("MaxPool", [current], [f"{name}.pool"],
                                          kernel_shape=list(pool), strides=list(pool)))
            current = f"{name}.pool"
    inits.append(numpy_helper.from_array(np.array([2], np.int64), "squeeze_axes"))
    nodes.append(helper.make_node("Squeeze", [current, "squeeze_axes"], ["steps_first"]))
    nodes.append(helper.make_node("Transpose", ["steps_first"], ["logits"], perm=[0, 2, 1]))
    nodes.append(helper.make_node("Softmax", ["logits"], ["probabilities"], axis=2))
    graph = helper.make_graph(
        nodes, "roadsight_plate_rec",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, HEIGHT, WIDTH])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", STEPS, CLASSES])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="roadsight scripts/plate_rec/train.py")
    model.ir_version = 8
    helper.set_model_props(model, {"character": "\n".join(ALPHABET)})
    onnx.checker.check_model(model)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    onnx.save(model, path)


def check_export(params, state, path, sample):
    import onnxruntime as ort
    session = ort.InferenceSession(path)
    x = normalise(sample)
    ours = np.asarray(jax.nn.softmax(forward(params, state, jnp.asarray(x))[0], axis=-1))
    theirs = session.run(None, {"x": x.transpose(0, 3, 1, 2)})[0]
    diff = float(np.abs(ours - theirs).max())
    print(f"export check: max |jax - onnxruntime| = {diff:.2e}")
    assert diff < 1e-3, "the ONNX export does not match the trained model"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", nargs="*", default=[], help="synthetic line folders")
    ap.add_argument("--real-lines", nargs="*", default=[], help="line folders of real crops (sampled 3x as often)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--low-resolution-share", type=float, default=0.0,
                    help="the share of training lines degraded to a plate a few pixels high")
    ap.add_argument("--compressed-share", type=float, default=0.0,
                    help="the share of those also blurred and JPEG-compressed at their small size")
    ap.add_argument("--init-only", action="store_true")
    ap.add_argument("--resume", help="an .npz of parameters to start from")
    ap.add_argument("--checkpoint", help="where to save parameters as training goes (.npz)")
    args = ap.parse_args()

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    params, state = init_params(jax.random.PRNGKey(args.seed))
    if args.resume:
        saved = np.load(args.resume)
        params = {n: {k: jnp.asarray(saved[f"params.{n}.{k}"]) for k in params[n]} for n in params}
        state = {n: {k: jnp.asarray(saved[f"state.{n}.{k}"]) for k in state[n]} for n in state}
    if args.init_only:
        export(params, state, args.out)
        check_export(params, state, args.out, np.zeros((2, HEIGHT, WIDTH, 3), np.uint8))
        return

    images, labels, weights, holdout = load_lines(args.lines, args.real_lines)
    train_index = np.flatnonzero(~holdout)
    valid_index = np.flatnonzero(holdout)
    print(f"{len(train_index)} training lines, {len(valid_index)} held out")
    p = weights[train_index] / weights[train_index].sum()
    rng = np.random.default_rng(args.seed)

    schedule = optax.warmup_cosine_decay_schedule(0.0, args.lr, 200, args.steps, args.lr * 0.02)
    optimiser = optax.chain(optax.clip_by_global_norm(5.0), optax.adamw(schedule, weight_decay=1e-4))
    opt_state = optimiser.init(params)

    def loss_fn(params, bn_state, x, y, y_pad):
        logits, new_bn_state = forward(params, bn_state, x, train=True)
        logit_pad = jnp.zeros(logits.shape[:2])
        return optax.ctc_loss(logits, logit_pad, y, y_pad, blank_id=0).mean(), new_bn_state

    @jax.jit
    def step(params, bn_state, opt_state, x, y, y_pad):
        (loss, bn_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, bn_state, x, y, y_pad)
        updates, opt_state = optimiser.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), bn_state, opt_state, loss

    predict = jax.jit(lambda params, bn_state, x: forward(params, bn_state, x)[0])

    # The held-out lines as they are, and each also as from a plate a few pixels high (fixed draw).
    valid_sharp = images[valid_index]
    low_rng = np.random.default_rng(12345)
    valid_low = np.stack([low_resolution(line, low_rng) for line in valid_sharp]) if len(valid_index) else None

    def validate(lines):
        if len(valid_index) == 0:
            return float("nan")
        hits = 0
        for start in range(0, len(valid_index), 256):
            idx = valid_index[start:start + 256]
            texts = greedy(predict(params, state, jnp.asarray(normalise(lines[start:start + 256]))))
            hits += sum(t == "".join(ALPHABET[c - 1] for c in labels[i]) for t, i in zip(texts, idx))
        return hits / len(valid_index)

    started = time.time()
    losses = []
    for n in range(1, args.steps + 1):
        idx = rng.choice(train_index, args.batch, p=p)
        x = augment(images[idx], rng, args.low_resolution_share, args.compressed_share)
        y, y_pad = pack_labels([labels[i] for i in idx])
        params, state, opt_state, loss = step(params, state, opt_state, jnp.asarray(x), jnp.asarray(y),
                                              jnp.asarray(y_pad))
        losses.append(float(loss))
        if n % 250 == 0 or n == args.steps:
            print(f"step {n}: loss {np.mean(losses[-250:]):.3f}, held-out exact {validate(valid_sharp):.3f}, "
                  f"low-resolution {validate(valid_low):.3f}, "
                  f"{time.time() - started:.0f} s", flush=True)
            saved = {f"params.{n}.{k}": np.asarray(v) for n, layer in params.items() for k, v in layer.items()}
            saved.update({f"state.{n}.{k}": np.asarray(v) for n, layer in state.items() for k, v in layer.items()})
            np.savez(args.checkpoint or args.out + ".npz", **saved)
    export(params, state, args.out)
    check_export(params, state, args.out, images[:8])


if __name__ == "__main__":
    main()
