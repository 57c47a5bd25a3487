#include "image_codecs.h"
int rada_image_codecs_version(void) { return 1; }
