/* must-not-load.h: what the deliberately broken test modules would do if
 * the registry wrongly ran their code: register a transport named
 * "must-not-load", which the tests look for.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <foctet.h>

G_BEGIN_DECLS

void bad_plugin_register_must_not_load (GIOModule *module);

G_END_DECLS
