"""Camera profiles: what a camera is, where it is, and what to watch for (docs/design.md)."""
from camera_profiles.loader import ProfileError, expand_env, load_profile, load_profiles
from camera_profiles.schema import CameraProfile

__all__ = ["CameraProfile", "ProfileError", "expand_env", "load_profile", "load_profiles"]
