"""What Pillow and OpenCV make of an 8-bit image: the libraries themselves
(Debian's python3-pil and python3-opencv), the reference of
common/video/image_resize.
Usage: image_resize_reference.py IN.bin H W OUT_H OUT_W PIL.bin CV.bin
(IN.bin: uint8 [H, W, 3], C-order; the outputs uint8 [OUT_H, OUT_W, 3])."""
import sys

import cv2
import numpy as np
from PIL import Image

path, h, w, out_h, out_w, pil_path, cv_path = sys.argv[1:8]
h, w, out_h, out_w = int(h), int(w), int(out_h), int(out_w)
image = np.fromfile(path, dtype=np.uint8).reshape(h, w, 3)
np.asarray(Image.fromarray(image).resize((out_w, out_h), Image.BILINEAR)
           ).tofile(pil_path)
cv2.resize(image, (out_w, out_h), interpolation=cv2.INTER_LINEAR
           ).tofile(cv_path)
