
/* ---- imgpipe: appended to turbojpeg.c by scripts/codecs/jpeg-turbo/build.sh ----------------- */

/*
 * tjDecompress2() for the output rows [firstRow, firstRow + numRows) only, written from row 0 of
 * dstBuf. The rows above are skipped with jpeg_skip_scanlines() (a single-scan image is entropy
 * decoded there, without IDCT or colour conversion); decoding stops after the last row asked for.
 * Same settings, same error and warning handling (this instance's errStr) as tjDecompress2(),
 * whose code this follows line for line; `width` and `height` select the scale as there. Two
 * threads decoding the top and the bottom of one image this way share its decoding work; the
 * pipeline checks that the rows equal a whole decode's (test/unit/codecs/jpeg-turbo.test.ts).
 */
DLLEXPORT int tjDecompressRows(tjhandle handle, const unsigned char *jpegBuf,
                               unsigned long jpegSize, unsigned char *dstBuf,
                               int width, int pitch, int height, int pixelFormat,
                               int flags, int firstRow, int numRows)
{
  JSAMPROW *row_pointer = NULL;
  int i, retval = 0, jpegwidth, jpegheight, scaledw, scaledh, lastRow;

  GET_DINSTANCE(handle);
  this->jerr.stopOnWarning = (flags & TJFLAG_STOPONWARNING) ? TRUE : FALSE;
  if ((this->init & DECOMPRESS) == 0)
    THROW("tjDecompressRows(): Instance has not been initialized for decompression");

  if (jpegBuf == NULL || jpegSize <= 0 || dstBuf == NULL || width < 0 ||
      pitch < 0 || height < 0 || pixelFormat < 0 || pixelFormat >= TJ_NUMPF ||
      firstRow < 0 || numRows <= 0 || (flags & (TJFLAG_BOTTOMUP | TJFLAG_LIMITSCANS)))
    THROW("tjDecompressRows(): Invalid argument");
  dinfo->progress = NULL;

  if (setjmp(this->jerr.setjmp_buffer)) {
    retval = -1;  goto bailout;
  }

  jpeg_mem_src_tj(dinfo, jpegBuf, jpegSize);
  jpeg_read_header(dinfo, TRUE);
  this->dinfo.out_color_space = pf2cs[pixelFormat];
  if (flags & TJFLAG_FASTDCT) this->dinfo.dct_method = JDCT_FASTEST;
  if (flags & TJFLAG_FASTUPSAMPLE) dinfo->do_fancy_upsampling = FALSE;

  jpegwidth = dinfo->image_width;  jpegheight = dinfo->image_height;
  if (width == 0) width = jpegwidth;
  if (height == 0) height = jpegheight;
  for (i = 0; i < NUMSF; i++) {
    scaledw = TJSCALED(jpegwidth, sf[i]);
    scaledh = TJSCALED(jpegheight, sf[i]);
    if (scaledw <= width && scaledh <= height)
      break;
  }
  if (i >= NUMSF)
    THROW("tjDecompressRows(): Could not scale down to desired image dimensions");
  dinfo->scale_num = sf[i].num;
  dinfo->scale_denom = sf[i].denom;

  jpeg_start_decompress(dinfo);
  if ((JDIMENSION)firstRow + (JDIMENSION)numRows > dinfo->output_height)
    THROW("tjDecompressRows(): Rows past the bottom of the image");
  lastRow = firstRow + numRows;
  if (pitch == 0) pitch = dinfo->output_width * tjPixelSize[pixelFormat];

  if ((row_pointer = (JSAMPROW *)malloc(sizeof(JSAMPROW) * numRows)) == NULL)
    THROW("tjDecompressRows(): Memory allocation failure");
  if (setjmp(this->jerr.setjmp_buffer)) {
    retval = -1;  goto bailout;
  }
  for (i = 0; i < numRows; i++)
    row_pointer[i] = &dstBuf[i * (size_t)pitch];
  if (firstRow > 0) jpeg_skip_scanlines(dinfo, firstRow);
  while ((int)dinfo->output_scanline < lastRow)
    jpeg_read_scanlines(dinfo, &row_pointer[dinfo->output_scanline - firstRow],
                        lastRow - dinfo->output_scanline);
  /* The bottom rows read to the end of the data, as tjDecompress2() does (its warnings too). */
  if (dinfo->output_scanline == dinfo->output_height) jpeg_finish_decompress(dinfo);

bailout:
  if (dinfo->global_state > DSTATE_START) jpeg_abort_decompress(dinfo);
  free(row_pointer);
  if (this->jerr.warning) retval = -1;
  this->jerr.stopOnWarning = FALSE;
  return retval;
}
