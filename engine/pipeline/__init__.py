"""Video → Motion: the stages between the lifter's joints and the files a user gets."""
