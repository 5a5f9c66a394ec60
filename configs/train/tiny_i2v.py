"""Image-to-video fine-tuning of the tiny I2V DiT (first-frame condition + image features).

    skyreels-jax train --config configs/train/tiny_i2v.py
    # real data: skyreels-jax preprocess --i2v ... then --set data.dir=... --set init_checkpoint=PATH_I2V
"""
from skyreels_jax.training.defaults import TINY_DIT, base_config

IMAGE_DIM = 20   # configs/models.py "tiny-i2v"


def get_config():
    cfg = base_config("flow", "outputs/train/tiny_i2v")
    cfg.model.dit = dict(TINY_DIT, in_dim=36, image_dim=IMAGE_DIM)
    cfg.data.synthetic.image_dim = IMAGE_DIM
    return cfg
