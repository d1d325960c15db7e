"""transformers' image processors as the judge of maas' image preprocessing.

usage:
  image_judge.py images DIR
      writes the test images into DIR and prints their paths as JSON: real photographs that
      ship with scikit-learn (china.jpg, flower.jpg) and scikit-image (chelsea.png, coffee.png,
      rocket.jpg), scikit-image's grey camera.png, and made from them with Pillow a palette PNG,
      a grey PNG, an RGBA PNG and a JPEG whose EXIF orientation says "rotate 90°"
  image_judge.py judge CONFIG.json IMAGE...
      for each image, the stages as transformers computes them, as JSON: `decoded` (PIL's
      pixels after ImageOps.exif_transpose and convert("RGB")), `resized` (transformers'
      image_transforms.resize of those pixels with the declared filter), `cropped` (its
      center_crop of them), each {height, width, rgb: base64}; and `pixel_values` (the processor
      class's own output on the file, channels first, float32 little-endian, base64)
"""
import base64
import json
import sys
from pathlib import Path

import numpy as np
import PIL.Image
import PIL.ImageOps


def encoded(array: np.ndarray) -> dict:
    array = np.ascontiguousarray(array, dtype=np.uint8)
    return {
        "height": int(array.shape[0]),
        "width": int(array.shape[1]),
        "rgb": base64.b64encode(array.tobytes()).decode(),
    }


def make_images(out: Path) -> None:
    import skimage
    import sklearn.datasets

    out.mkdir(parents=True, exist_ok=True)
    sklearn_images = Path(sklearn.datasets.__file__).parent / "images"
    skimage_data = Path(skimage.__file__).parent / "data"
    paths = []
    for source in [
        sklearn_images / "china.jpg",
        sklearn_images / "flower.jpg",
        skimage_data / "chelsea.png",
        skimage_data / "coffee.png",
        skimage_data / "rocket.jpg",
        skimage_data / "camera.png",
    ]:
        target = out / source.name
        target.write_bytes(source.read_bytes())
        paths.append(str(target))
    photo = PIL.Image.open(skimage_data / "chelsea.png").convert("RGB")
    photo.quantize(colors=64).save(out / "palette.png")
    photo.convert("L").save(out / "grey.png")
    rgba = photo.convert("RGBA")
    alpha = PIL.Image.linear_gradient("L").resize(photo.size)
    rgba.putalpha(alpha)
    rgba.save(out / "rgba.png")
    exif = PIL.Image.Exif()
    exif[0x0112] = 6  # orientation: the camera was turned, rotate 90° clockwise to view
    # full-resolution chroma: re-encoded with 4:2:0, Pillow's libjpeg and the image crate's
    # decoder upsample chroma differently, by up to 4 at a few pixels (the photographs above
    # stay within 3); this file is here for its orientation
    PIL.Image.open(sklearn_images / "flower.jpg").save(
        out / "rotated.jpg", exif=exif, quality=95, subsampling=0
    )
    for name in ["palette.png", "grey.png", "rgba.png", "rotated.jpg"]:
        paths.append(str(out / name))
    print(json.dumps(paths))


def judge(config_path: str, images: list) -> None:
    from transformers import CLIPImageProcessor, ViTImageProcessor
    from transformers.image_transforms import center_crop, resize
    from transformers.image_utils import ChannelDimension, PILImageResampling

    config = json.loads(Path(config_path).read_text())
    size = config["size"]
    crop = config.get("do_center_crop", False)
    # ViT's processor for a fixed {height, width}; CLIP's for the shortest edge and the crop
    processor_class = CLIPImageProcessor if crop or "shortest_edge" in size else ViTImageProcessor
    processor = processor_class(**{k: v for k, v in config.items() if k != "image_processor_type"})
    answers = []
    for path in images:
        image = PIL.ImageOps.exif_transpose(PIL.Image.open(path))
        rgb = np.asarray(image.convert("RGB"))
        answer = {"decoded": encoded(rgb)}
        if "shortest_edge" in size:
            h, w = rgb.shape[:2]
            edge = size["shortest_edge"]
            short, long = (w, h) if w <= h else (h, w)
            new_long = int(edge * long / short)
            target = (edge, new_long) if h <= w else (new_long, edge)
        else:
            target = (size["height"], size["width"])
        resample = PILImageResampling(config.get("resample", 2))
        resized = resize(rgb, target, resample=resample, data_format=ChannelDimension.LAST)
        answer["resized"] = encoded(resized)
        if crop:
            c = config["crop_size"]
            answer["cropped"] = encoded(center_crop(resized, (c["height"], c["width"])))
        # the RGB image: ViT's processor has no do_convert_rgb of its own
        values = processor(images=image.convert("RGB"), return_tensors="np")["pixel_values"][0]
        answer["pixel_values"] = base64.b64encode(values.astype("<f4").tobytes()).decode()
        answer["shape"] = list(values.shape)
        answers.append(answer)
    print(json.dumps(answers))


if __name__ == "__main__":
    if sys.argv[1] == "images":
        make_images(Path(sys.argv[2]))
    else:
        judge(sys.argv[2], sys.argv[3:])
