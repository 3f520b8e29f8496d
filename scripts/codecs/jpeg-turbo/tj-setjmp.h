/*
 * Included before every file of the build (-include): TurboJPEG's error handler longjmps back to
 * a setjmp in each API function. Here setjmp is an import that returns 0 and longjmp an import
 * that throws a JavaScript exception (src/codecs/jpeg-turbo.ts), which unwinds the instance; the
 * caller then replaces it. No emscripten setjmp emulation, so no invoke_* glue.
 */
#include <setjmp.h>

__attribute__((import_module("env"), import_name("setjmp"))) int imgpipe_setjmp(jmp_buf env);
__attribute__((import_module("env"), import_name("longjmp"), noreturn)) void
imgpipe_longjmp(jmp_buf env, int value);

#undef setjmp
#define setjmp(env) imgpipe_setjmp(env)
#define longjmp(env, value) imgpipe_longjmp(env, value)
