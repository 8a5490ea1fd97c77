"""The media service: photo uploads, processing with libvips, storage of the renditions.

Other services use only what is listed here.
"""

from tessera.media.api import router as api_router
from tessera.media.public import (
    BulkAttachment,
    PreparedPhoto,
    ProfileImage,
    StoredPhoto,
    attach_to_post,
    attachments_of_posts,
    bulk_insert_attachments,
    delete_post_media,
    describe,
    prepare_photo,
    process_profile_image,
    save_photo,
    store_photo,
    store_profile_image,
)

__all__ = [
    "BulkAttachment",
    "PreparedPhoto",
    "ProfileImage",
    "StoredPhoto",
    "api_router",
    "attach_to_post",
    "attachments_of_posts",
    "bulk_insert_attachments",
    "delete_post_media",
    "describe",
    "prepare_photo",
    "process_profile_image",
    "save_photo",
    "store_photo",
    "store_profile_image",
]
