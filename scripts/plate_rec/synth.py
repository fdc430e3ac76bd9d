"""Synthetic licence plates for training roadsight's plate recogniser.

Renders Vietnamese one-row (car) and two-row (motorbike, square car) plates, plus a share of
foreign plates (US-style with state name and slogan around the number, EU-style with the
country band, and simpler Croatian-, Czech- and generic-looking ones), from the open DejaVu fonts (Debian `fonts-dejavu-core`), then
degrades them the way camera crops are degraded: perspective, rotation, blur, noise, contrast,
JPEG. Writes `images/*.jpg` and `labels.csv` (`image,text,rows`, the layout of
`../shared/data/plates-vn`), so `roadsight eval plates --crops-dir OUT --dump-lines LINES`
turns them into recogniser lines through exactly the path the reader uses.

    python synth.py --out /tmp/plate-synth --count 6000 --seed 1
"""

import argparse
import csv
import io
import os
import random

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_DIR = "/usr/share/fonts/truetype/dejavu"
FONTS = ["DejaVuSansCondensed-Bold.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono-Bold.ttf",
         "DejaVuSansCondensed.ttf"]
SERIES_LETTERS = "ABCDEFGHKLMNPRSTUVXYZ"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"


def digits(rng, n):
    return "".join(rng.choice(DIGITS) for _ in range(n))


def vn_number(rng):
    if rng.random() < 0.8:
        d = digits(rng, 5)
        return d[:3] + "." + d[3:]
    return digits(rng, 4)


def vn_province(rng):
    return str(rng.randint(11, 99))


def vn_one_row(rng):
    series = rng.choice(SERIES_LETTERS)
    if rng.random() < 0.12:
        series += rng.choice(SERIES_LETTERS)
    return [vn_province(rng) + series + "-" + vn_number(rng)]


def vn_two_row_motorbike(rng):
    r = rng.random()
    if r < 0.75:
        series = rng.choice(SERIES_LETTERS) + rng.choice(DIGITS)
    elif r < 0.88:
        series = rng.choice(SERIES_LETTERS) + rng.choice(SERIES_LETTERS)
    else:
        series = rng.choice(["MĐ", "MD", "LD"]) + rng.choice(DIGITS)
    return [vn_province(rng) + "-" + series, vn_number(rng)]


def vn_two_row_car(rng):
    return [vn_province(rng) + rng.choice(SERIES_LETTERS), vn_number(rng)]


def foreign_one_row(rng):
    kind = rng.random()
    if kind < 0.4:  # Croatian-like: ZG 123-AB
        return [rng.choice(["ZG", "ST", "RI", "OS", "ZD", "PU", "SK", "VU"]) + " " + digits(rng, rng.randint(3, 4))
                + "-" + "".join(rng.choice(LETTERS) for _ in range(rng.randint(1, 2)))]
    if kind < 0.8:  # Czech-like: 1AB 2345
        return [rng.choice(DIGITS[1:]) + rng.choice(LETTERS) + rng.choice(LETTERS + DIGITS) + " " + digits(rng, 4)]
    n = rng.randint(5, 8)
    return ["".join(rng.choice(LETTERS + DIGITS) for _ in range(n))]


def foreign_two_row(rng):
    return ["".join(rng.choice(LETTERS) for _ in range(rng.randint(2, 3))),
            digits(rng, rng.randint(3, 5))]


US_STATES = ["CALIFORNIA", "TEXAS", "NEW YORK", "FLORIDA", "ILLINOIS", "OHIO", "MICHIGAN",
             "GEORGIA", "ARIZONA", "NEVADA", "OREGON", "WASHINGTON", "COLORADO", "VIRGINIA",
             "MARYLAND", "NEW JERSEY", "PENNSYLVANIA", "MASSACHUSETTS", "MINNESOTA", "UTAH"]
US_SLOGANS = ["Sunshine State", "dmv.ca.gov", "LAND OF LINCOLN", "Lone Star State", "EMPIRE STATE",
              "Great Lakes", "Grand Canyon State", "Peach State", "Live Free or Die", "", ""]
EU_COUNTRIES = ["D", "F", "NL", "PL", "I", "B", "CZ", "SK", "A", "E", "HR", "SLO", "H", "GB"]


def us_text(rng):
    kind = rng.random()
    if kind < 0.3:
        return rng.choice(DIGITS[1:]) + "".join(rng.choice(LETTERS) for _ in range(3)) + digits(rng, 3)
    if kind < 0.6:
        return "".join(rng.choice(LETTERS) for _ in range(3)) + rng.choice(["", " ", "-"]) + digits(rng, 4)
    if kind < 0.8:
        return digits(rng, 3) + " " + "".join(rng.choice(LETTERS) for _ in range(3))
    n = rng.randint(5, 7)
    return "".join(rng.choice(LETTERS + DIGITS) for _ in range(n))


def eu_text(rng):
    kind = rng.random()
    if kind < 0.35:
        return "".join(rng.choice(LETTERS) for _ in range(rng.randint(1, 3))) + " " + \
            "".join(rng.choice(LETTERS) for _ in range(rng.randint(1, 2))) + " " + digits(rng, rng.randint(2, 4))
    if kind < 0.6:
        return "".join(rng.choice(LETTERS) for _ in range(2)) + "-" + digits(rng, 3) + "-" + \
            "".join(rng.choice(LETTERS) for _ in range(2))
    if kind < 0.8:
        return "".join(rng.choice(LETTERS) for _ in range(2)) + digits(rng, 2) + " " + \
            "".join(rng.choice(LETTERS) for _ in range(3))
    return "".join(rng.choice(LETTERS + DIGITS) for _ in range(rng.randint(5, 8)))


def render_us(rng, text):
    """A US-style plate: state name above, slogan below, the number in between (the label)."""
    w, h = int(300 * rng.uniform(0.95, 1.05)), 150
    top = (rng.randint(200, 255), rng.randint(200, 255), rng.randint(200, 255))
    bottom = tuple(max(0, min(255, c + rng.randint(-60, 20))) for c in top)
    ramp = np.linspace(0, 1, h)[:, None, None]
    arr = (np.array(top)[None, None, :] * (1 - ramp) + np.array(bottom)[None, None, :] * ramp)
    plate = Image.fromarray(np.repeat(arr, w, axis=1).astype(np.uint8))
    draw = ImageDraw.Draw(plate)
    ink = rng.choice([(20, 30, 120), (10, 10, 10), (150, 20, 20), (20, 80, 30)])
    accent = rng.choice([(180, 20, 20), (20, 40, 150), (10, 10, 10)])
    font_file = os.path.join(FONT_DIR, rng.choice(FONTS))
    state = rng.choice(US_STATES)
    font, box = fit_font(draw, state, font_file, w * 0.7, h * rng.uniform(0.12, 0.2))
    draw.text(((w - (box[2] - box[0])) / 2 - box[0], h * 0.06 - box[1]), state, font=font, fill=accent)
    slogan = rng.choice(US_SLOGANS)
    if slogan:
        font, box = fit_font(draw, slogan, font_file, w * 0.7, h * rng.uniform(0.08, 0.13))
        draw.text(((w - (box[2] - box[0])) / 2 - box[0], h * 0.84 - box[1]), slogan, font=font, fill=accent)
    if rng.random() < 0.4:  # a registration sticker
        x = rng.choice([int(w * 0.05), int(w * 0.82)])
        draw.rectangle([x, int(h * 0.08), x + int(w * 0.12), int(h * 0.25)],
                       fill=tuple(rng.randint(0, 255) for _ in range(3)))
    font, box = fit_font(draw, text, font_file, w * rng.uniform(0.72, 0.88), h * rng.uniform(0.4, 0.5))
    tw, th = box[2] - box[0], box[3] - box[1]
    draw.text(((w - tw) / 2 - box[0], (h - th) / 2 - box[1] + rng.randint(-4, 4)), text, font=font, fill=ink)
    draw.rectangle([1, 1, w - 2, h - 2], outline=(90, 90, 90), width=2)
    return plate


def render_eu(rng, text):
    """An EU-style plate: blue band with the country code on the left (not part of the label)."""
    w, h = int(520 * rng.uniform(0.85, 1.1)), 110
    bg = rng.choice([(245, 245, 245), (240, 200, 40)])
    plate = Image.new("RGB", (w, h), bg)
    draw = ImageDraw.Draw(plate)
    band = int(w * rng.uniform(0.08, 0.1))
    draw.rectangle([0, 0, band, h], fill=(20, 50, 160))
    font_file = os.path.join(FONT_DIR, rng.choice(FONTS))
    code = rng.choice(EU_COUNTRIES)
    font, box = fit_font(draw, code, font_file, band * 0.8, h * 0.3)
    draw.text(((band - (box[2] - box[0])) / 2 - box[0], h * 0.62 - box[1]), code, font=font, fill=(240, 240, 240))
    font, box = fit_font(draw, text, font_file, (w - band) * rng.uniform(0.8, 0.92), h * rng.uniform(0.62, 0.78))
    tw, th = box[2] - box[0], box[3] - box[1]
    draw.text((band + (w - band - tw) / 2 - box[0], (h - th) / 2 - box[1]), text, font=font, fill=(15, 15, 15))
    draw.rectangle([1, 1, w - 2, h - 2], outline=(30, 30, 30), width=3)
    return plate


def fit_font(draw, text, font_file, box_w, box_h):
    size = int(box_h * 1.3)
    while size > 6:
        font = ImageFont.truetype(font_file, size)
        x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
        if x1 - x0 <= box_w and y1 - y0 <= box_h:
            return font, (x0, y0, x1, y1)
        size -= 2
    font = ImageFont.truetype(font_file, 6)
    return font, draw.textbbox((0, 0), text, font=font)


def render_plate(rng, rows_text, size, colours):
    w, h = size
    bg, fg = colours
    plate = Image.new("RGB", (w, h), bg)
    draw = ImageDraw.Draw(plate)
    border = max(2, int(h * rng.uniform(0.02, 0.05)))
    draw.rectangle([border, border, w - border - 1, h - border - 1], outline=fg, width=border)
    font_file = os.path.join(FONT_DIR, rng.choice(FONTS))
    n = len(rows_text)
    pad_x = int(w * rng.uniform(0.05, 0.1))
    row_h = (h - 2 * border) / n
    for i, text in enumerate(rows_text):
        box_h = row_h * rng.uniform(0.62, 0.8)
        font, (x0, y0, x1, y1) = fit_font(draw, text, font_file, w - 2 * pad_x, box_h)
        tw, th = x1 - x0, y1 - y0
        # Plates stretch their glyphs to the row: scale the text layer to the target size.
        layer = Image.new("L", (tw + 4, th + 4), 0)
        ImageDraw.Draw(layer).text((2 - x0, 2 - y0), text, font=font, fill=255)
        target_w = int(min(w - 2 * pad_x, tw * rng.uniform(1.0, 1.35)))
        target_h = int(box_h)
        layer = layer.resize((max(4, target_w), max(4, target_h)), Image.BILINEAR)
        x = (w - layer.width) // 2 + rng.randint(-pad_x // 3, pad_x // 3)
        y = int(border + i * row_h + (row_h - layer.height) / 2) + rng.randint(-2, 2)
        plate.paste(Image.new("RGB", layer.size, fg), (x, y), layer)
    return plate


def degrade(rng, plate, np_rng):
    w, h = plate.size
    # Plate placed on a background with a margin, then a random perspective.
    margin_x, margin_y = int(w * rng.uniform(0.03, 0.25)), int(h * rng.uniform(0.03, 0.3))
    canvas_w, canvas_h = w + 2 * margin_x, h + 2 * margin_y
    bg = tuple(int(v) for v in np_rng.integers(0, 255, 3))
    canvas = Image.new("RGB", (canvas_w, canvas_h), bg)
    noise = np_rng.normal(0, rng.uniform(0, 40), (canvas_h, canvas_w, 3))
    canvas = Image.fromarray(np.clip(np.asarray(canvas, np.float32) + noise, 0, 255).astype(np.uint8))
    canvas.paste(plate, (margin_x, margin_y))
    jitter = rng.uniform(0.0, 0.09)
    quad = []
    # PIL QUAD order: upper-left, lower-left, lower-right, upper-right.
    for (cx, cy) in [(0, 0), (0, canvas_h), (canvas_w, canvas_h), (canvas_w, 0)]:
        quad += [cx + rng.uniform(-jitter, jitter) * canvas_w, cy + rng.uniform(-jitter, jitter) * canvas_h]
    out_w, out_h = canvas_w, canvas_h
    canvas = canvas.transform((out_w, out_h), Image.QUAD, quad, Image.BILINEAR, fillcolor=bg)
    if rng.random() < 0.5:
        canvas = canvas.rotate(rng.uniform(-6, 6), Image.BILINEAR, expand=False, fillcolor=bg)
    # Final size: plates in crops range from tiny to large.
    target_h = int(rng.choice([rng.uniform(18, 45), rng.uniform(45, 120), rng.uniform(120, 400)]))
    scale = target_h / out_h
    canvas = canvas.resize((max(8, int(out_w * scale)), max(8, target_h)), Image.BILINEAR)
    if rng.random() < 0.6:
        canvas = canvas.filter(ImageFilter.GaussianBlur(rng.uniform(0.2, 1.6) * max(1.0, target_h / 80)))
    arr = np.asarray(canvas, np.float32)
    contrast, bright = rng.uniform(0.5, 1.2), rng.uniform(-50, 40)
    arr = (arr - 128) * contrast + 128 + bright
    if rng.random() < 0.3:  # uneven light: a gradient across the plate
        ramp = np.linspace(rng.uniform(-60, 0), rng.uniform(0, 60), arr.shape[1])[None, :, None]
        arr = arr + ramp
    arr += np_rng.normal(0, rng.uniform(0, 12), arr.shape)
    canvas = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    buf = io.BytesIO()
    canvas.save(buf, "JPEG", quality=rng.randint(25, 95))
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def colours(rng):
    r = rng.random()
    if r < 0.72:
        return ((rng.randint(200, 255),) * 3, (rng.randint(0, 50),) * 3)
    if r < 0.86:
        return ((rng.randint(200, 255), rng.randint(170, 220), rng.randint(0, 60)), (20, 20, 20))
    if r < 0.94:
        return ((rng.randint(0, 40), rng.randint(40, 90), rng.randint(120, 200)), (235, 235, 235))
    return ((rng.randint(170, 230),) * 3, (rng.randint(20, 80),) * 3)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=6000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--styles", choices=["vn", "all", "foreign"], default="all",
                    help="vn: Vietnamese plates and a share of simple foreign ones; all: a quarter "
                         "US- and EU-style besides; foreign: half US- and EU-style")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    np_rng = np.random.default_rng(args.seed)
    os.makedirs(os.path.join(args.out, "images"), exist_ok=True)
    with open(os.path.join(args.out, "labels.csv"), "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["image", "text", "rows"])
        for i in range(args.count):
            kind = rng.random()
            if args.styles in ("all", "foreign") and rng.random() < (0.5 if args.styles == "foreign" else 0.25):
                if rng.random() < 0.6:
                    text = us_text(rng)
                    plate = render_us(rng, text)
                else:
                    text = eu_text(rng)
                    plate = render_eu(rng, text)
                image = degrade(rng, plate, np_rng)
                name = f"synth{i:05d}.jpg"
                image.save(os.path.join(args.out, "images", name), quality=95)
                out.writerow([name, text, 1])
                continue
            if kind < 0.42:
                rows_text = vn_two_row_motorbike(rng)
                size = (int(190 * rng.uniform(0.9, 1.15)), 140)
            elif kind < 0.72:
                rows_text = vn_one_row(rng)
                size = (int(470 * rng.uniform(0.85, 1.1)), 110)
            elif kind < 0.8:
                rows_text = vn_two_row_car(rng)
                size = (int(280 * rng.uniform(0.9, 1.1)), 200)
            elif kind < 0.95:
                rows_text = foreign_one_row(rng)
                size = (int(520 * rng.uniform(0.8, 1.1)), 110)
            else:
                rows_text = foreign_two_row(rng)
                size = (int(300 * rng.uniform(0.9, 1.1)), 200)
            plate = render_plate(rng, rows_text, size, colours(rng))
            image = degrade(rng, plate, np_rng)
            name = f"synth{i:05d}.jpg"
            image.save(os.path.join(args.out, "images", name), quality=95)
            label = "".join(rows_text).replace("Đ", "D")
            out.writerow([name, label, len(rows_text)])


if __name__ == "__main__":
    main()
