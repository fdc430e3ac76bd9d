#!/usr/bin/env python3
"""Models roadsight derives from upstream ones by exact graph edits: no retraining, no weight
changed, and the same numbers out (tests check that on real photos).

Each recipe takes the upstream ONNX file and writes the derived one. It edits the protobuf wire
format directly, so it needs nothing beyond the standard library, and the same input always
gives the same bytes (the manifest's sha256 checks them).

Recipes:
  yolox-focus-in-pre   YOLOX's first layer ("Focus") slices the 3xHxW picture into its four
                       2x2 pixel phases and stacks them into 12 channels of H/2 x W/2. In ONNX
                       that is eight Slice nodes and a Concat, which cost about a tenth of
                       YOLOX-nano's inference time on one core. roadsight writes its input tensor
                       pixel by pixel anyway, so it can write the stacked layout at no cost
                       (manifest layout "nchw-focus"). The recipe cuts those nodes so the graph
                       starts at the stacked tensor (input `images_focus`, [1, 12, H/2, W/2]).
                       It also drops the final Transpose so the head comes out channels first
                       (output `output_channels_first`, [1, 5 + classes, anchors]); the decoder
                       reads that layout directly (manifest output layout "channels-first").
                       With a SIZE (WIDTHxHEIGHT, multiples of 32) the graph takes pictures of
                       that size instead of the export's: YOLOX is fully convolutional and its
                       head reshapes with -1, so only the declared shapes change. A 416x256
                       picture holds a 16:9 frame at the scale a 416x416 one does, with 38 %
                       fewer pixels to convolve (rectangular inference, as YOLOv5's `rect`).

Usage: derive_models.py RECIPE SOURCE.onnx DEST.onnx [SIZE]
"""
import sys
from pathlib import Path

# Field numbers from onnx.proto (onnx/onnx, stable since IR version 3).
MODEL_GRAPH, MODEL_METADATA_PROPS = 7, 14
ENTRY_KEY, ENTRY_VALUE = 1, 2
GRAPH_NODE, GRAPH_INITIALIZER, GRAPH_INPUT, GRAPH_OUTPUT, GRAPH_VALUE_INFO = 1, 5, 11, 12, 13
NODE_INPUT, NODE_OUTPUT, NODE_OP_TYPE = 1, 2, 4
TENSOR_NAME = 8
VALUE_INFO_NAME, VALUE_INFO_TYPE = 1, 2
TYPE_TENSOR = 1
TENSOR_TYPE_ELEM_TYPE, TENSOR_TYPE_SHAPE = 1, 2
SHAPE_DIM, DIM_VALUE = 1, 1
FLOAT = 1
VARINT, LENGTH_DELIMITED = 0, 2


class RecipeError(Exception):
    pass


def read_varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if at >= len(data):
            raise RecipeError("truncated varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def fields(data: bytes):
    """Yields (field number, wire type, payload, the field's raw bytes) for one message."""
    at = 0
    while at < len(data):
        start = at
        key, at = read_varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == VARINT:
            payload, at = read_varint(data, at)
        elif wire == 1:
            payload, at = data[at : at + 8], at + 8
        elif wire == LENGTH_DELIMITED:
            length, at = read_varint(data, at)
            payload, at = data[at : at + length], at + length
        elif wire == 5:
            payload, at = data[at : at + 4], at + 4
        else:
            raise RecipeError(f"unsupported protobuf wire type {wire}")
        yield number, wire, payload, data[start:at]


def field(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | LENGTH_DELIMITED) + varint(len(payload)) + payload


def strings(message: bytes, number: int) -> list[str]:
    return [p.decode() for n, w, p, _ in fields(message) if n == number and w == LENGTH_DELIMITED]


def first_string(message: bytes, number: int) -> str:
    found = strings(message, number)
    return found[0] if found else ""


def rename_in_node(node: bytes, renames: dict[str, str]) -> bytes:
    out = bytearray()
    for number, wire, payload, raw in fields(node):
        if number in (NODE_INPUT, NODE_OUTPUT) and payload.decode() in renames:
            out += field(number, renames[payload.decode()].encode())
        else:
            out += raw
    return bytes(out)


def float_tensor_info(name: str, shape: list[int]) -> bytes:
    dims = b"".join(field(SHAPE_DIM, varint(DIM_VALUE << 3 | VARINT) + varint(d)) for d in shape)
    tensor_type = varint(TENSOR_TYPE_ELEM_TYPE << 3 | VARINT) + varint(FLOAT)
    tensor_type += field(TENSOR_TYPE_SHAPE, dims)
    return field(VALUE_INFO_NAME, name.encode()) + field(VALUE_INFO_TYPE, field(TYPE_TENSOR, tensor_type))


def shape_of(value_info: bytes) -> list[int]:
    for number, _, type_proto, _ in fields(value_info):
        if number != VALUE_INFO_TYPE:
            continue
        for n, _, tensor_type, _ in fields(type_proto):
            if n != TYPE_TENSOR:
                continue
            for m, _, shape, _ in fields(tensor_type):
                if m != TENSOR_TYPE_SHAPE:
                    continue
                dims = []
                for k, _, dim, _ in fields(shape):
                    if k == SHAPE_DIM:
                        values = [p for f, w, p, _ in fields(dim) if f == DIM_VALUE and w == VARINT]
                        dims.append(values[0] if values else -1)
                return dims
    return []


def yolox_focus_in_pre(model: bytes, size: tuple[int, int] | None = None) -> bytes:
    graphs = [p for n, w, p, _ in fields(model) if n == MODEL_GRAPH]
    if len(graphs) != 1:
        raise RecipeError("the model has no graph")
    graph = graphs[0]
    nodes = [p for n, _, p, _ in fields(graph) if n == GRAPH_NODE]
    inputs = [p for n, _, p, _ in fields(graph) if n == GRAPH_INPUT]
    outputs = [p for n, _, p, _ in fields(graph) if n == GRAPH_OUTPUT]
    if len(inputs) != 1 or len(outputs) != 1:
        raise RecipeError("expected one graph input and one output")
    picture_name, head_name = first_string(inputs[0], VALUE_INFO_NAME), first_string(outputs[0], VALUE_INFO_NAME)
    batch, channels, height, width = shape_of(inputs[0])
    if channels != 3 or height % 2 or width % 2:
        raise RecipeError(f"expected a [N, 3, H, W] input with even H and W, found {shape_of(inputs[0])}")
    _, anchors, row = shape_of(outputs[0])
    if size is not None:
        width, height = size
        if width % 32 or height % 32 or width <= 0 or height <= 0:
            raise RecipeError(f"size {width}x{height}: YOLOX needs multiples of 32 (its largest stride)")
        anchors = sum((width // stride) * (height // stride) for stride in (8, 16, 32))

    producer = {}
    for node in nodes:
        for name in strings(node, NODE_OUTPUT):
            producer[name] = node
    # Focus: a Concat of four double Slices (rows, then columns) of the picture.
    consumers_of_picture = [n for n in nodes if picture_name in strings(n, NODE_INPUT)]
    if len(consumers_of_picture) != 4 or any(first_string(n, NODE_OP_TYPE) != "Slice" for n in consumers_of_picture):
        raise RecipeError(f"`{picture_name}` does not feed YOLOX's four Focus slices")
    focus_slices = set()
    for row_slice in consumers_of_picture:
        focus_slices.add(id(row_slice))
        row_output = strings(row_slice, NODE_OUTPUT)[0]
        column_slices = [n for n in nodes if row_output in strings(n, NODE_INPUT)]
        if not column_slices or any(first_string(n, NODE_OP_TYPE) != "Slice" for n in column_slices):
            raise RecipeError(f"`{row_output}` does not feed column slices only")
        focus_slices.update(id(n) for n in column_slices)
    concats = [
        n
        for n in nodes
        if first_string(n, NODE_OP_TYPE) == "Concat"
        and all(id(producer.get(i)) in focus_slices for i in strings(n, NODE_INPUT))
    ]
    if len(concats) != 1 or len(strings(concats[0], NODE_INPUT)) != 4:
        raise RecipeError("no Concat of the four Focus slices")
    focus = strings(concats[0], NODE_OUTPUT)[0]
    transpose = producer.get(head_name)
    if transpose is None or first_string(transpose, NODE_OP_TYPE) != "Transpose":
        raise RecipeError(f"`{head_name}` is not made by a Transpose")
    head = strings(transpose, NODE_INPUT)[0]
    cut = focus_slices | {id(concats[0]), id(transpose)}
    renames = {focus: "images_focus", head: "output_channels_first"}

    kept_nodes = [rename_in_node(n, renames) for n in nodes if id(n) not in cut]
    used = {i for n in kept_nodes for i in strings(n, NODE_INPUT)}
    out = bytearray()
    placed_io = False
    for number, _, payload, raw in fields(graph):
        if number == GRAPH_NODE:
            continue
        if number == GRAPH_INITIALIZER and first_string(payload, TENSOR_NAME) not in used:
            continue
        if number == GRAPH_VALUE_INFO:
            # Shape hints of the export's intermediate tensors: some name cut nodes, and a new
            # size makes all of them wrong. ONNX Runtime infers shapes without them.
            continue
        if number in (GRAPH_INPUT, GRAPH_OUTPUT):
            if not placed_io:
                out += field(GRAPH_INPUT, float_tensor_info("images_focus", [batch, 12, height // 2, width // 2]))
                out += field(GRAPH_OUTPUT, float_tensor_info("output_channels_first", [batch, row, anchors]))
                placed_io = True
            continue
        out += raw
    new_graph = b"".join(field(GRAPH_NODE, n) for n in kept_nodes) + bytes(out)

    model_out = bytearray()
    for number, _, _, raw in fields(model):
        model_out += field(MODEL_GRAPH, new_graph) if number == MODEL_GRAPH else raw
    return bytes(model_out)


RECIPES = {"yolox-focus-in-pre": yolox_focus_in_pre}


def with_metadata(model: bytes, key: str, value: str) -> bytes:
    """The model with one more `metadata_props` entry (graph and weights untouched).

    PP-OCR recognisers exported without their character list carry it in a separate dictionary
    file; roadsight reads it from the metadata key `character`, as rapidocr's exports have it.
    """
    for number, wire, payload, _ in fields(model):
        if number == MODEL_METADATA_PROPS and wire == LENGTH_DELIMITED:
            if first_string(payload, ENTRY_KEY) == key:
                raise RecipeError(f"the model already has metadata `{key}`")
    entry = field(ENTRY_KEY, key.encode()) + field(ENTRY_VALUE, value.encode())
    return model + field(MODEL_METADATA_PROPS, entry)


def parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise RecipeError(f"size `{text}`: expected WIDTHxHEIGHT, such as 416x256") from None
    return width, height


def derive(recipe: str, source: Path, dest: Path, size: str | None = None) -> None:
    if recipe not in RECIPES:
        raise RecipeError(f"unknown recipe `{recipe}` (known: {', '.join(RECIPES)})")
    derived = RECIPES[recipe](source.read_bytes(), parse_size(size) if size else None)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    partial.write_bytes(derived)
    partial.replace(dest)


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    try:
        derive(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4] if len(sys.argv) == 5 else None)
    except (RecipeError, OSError, UnicodeDecodeError, ValueError) as error:
        sys.exit(f"derive_models.py {sys.argv[1]} {sys.argv[2]}: {error}")
