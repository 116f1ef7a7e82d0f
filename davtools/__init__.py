"""Small stand-alone tools installed with davsync (``davsync-inventory``)."""
