/*
 * The part of Pillow's src/libImaging/Imaging.h that Resample.c uses, for a build of that one file
 * (resample.c includes it): an image is RGBA, 8 bits per channel, rows of xsize * 4 bytes.
 */
#pragma once
#include <limits.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned char UINT8;
typedef int INT32;
typedef unsigned int UINT32;
typedef float FLOAT32;

#define IMAGING_TYPE_UINT8 0
#define IMAGING_TYPE_INT32 1
#define IMAGING_TYPE_FLOAT32 2
#define IMAGING_TYPE_SPECIAL 3

#define IMAGING_TRANSFORM_NEAREST 0
#define IMAGING_TRANSFORM_BOX 4
#define IMAGING_TRANSFORM_BILINEAR 2
#define IMAGING_TRANSFORM_HAMMING 5
#define IMAGING_TRANSFORM_BICUBIC 3
#define IMAGING_TRANSFORM_LANCZOS 1

typedef struct ImagingMemoryInstance *Imaging;
struct ImagingMemoryInstance {
  char mode[7];
  int type, depth, bands, xsize, ysize;
  UINT8 **image8; /* NULL: no 1-band images here */
  INT32 **image32;
  char **image;
  char *block; /* the pixels, when the image owns them */
};

typedef int ImagingSectionCookie;
#define ImagingSectionEnter(cookie) ((void)(cookie))
#define ImagingSectionLeave(cookie) ((void)(cookie))

void *ImagingError_MemoryError(void);
void *ImagingError_ModeError(void);
void *ImagingError_ValueError(const char *message);
Imaging ImagingNewDirty(const char *mode, int xsize, int ysize);
void ImagingDelete(Imaging im);
Imaging ImagingCopy(Imaging im);

#define MAKE_UINT32(u0, u1, u2, u3) \
  ((UINT32)(u0) | ((UINT32)(u1) << 8) | ((UINT32)(u2) << 16) | ((UINT32)(u3) << 24))
#define IMAGING_PIXEL_I(im, x, y) ((im)->image32[(y)][(x)])
#define IMAGING_PIXEL_F(im, x, y) (((FLOAT32 *)(im)->image32[y])[x])
