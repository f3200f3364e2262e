/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(__FOCTET_INSIDE__) && !defined(FOCTET_COMPILATION)
#error "Only <foctet.h> can be included directly."
#endif

#include <glib.h>

#if defined(_WIN32)
#define _FOCTET_EXPORT __declspec(dllexport) extern
#else
#define _FOCTET_EXPORT __attribute__((visibility("default"))) extern
#endif

/* Every public symbol is marked with this; the library is built with
 * hidden visibility so nothing else leaks out. */
#define FOCTET_AVAILABLE_IN_ALL _FOCTET_EXPORT
