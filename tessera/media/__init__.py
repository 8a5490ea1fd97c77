"""The media service: photo uploads, processing with libvips, storage of the renditions.

Other services use only what is listed here.
"""

from tessera.media.api import router as api_router
from tessera.media.public import ProfileImage, process_profile_image, store_profile_image

__all__ = ["ProfileImage", "api_router", "process_profile_image", "store_profile_image"]
