/* must-not-load.c: a transport that does nothing, registered as
 * "must-not-load" by the broken test modules' g_io_module_load().  If it
 * is ever listed, the registry ran code it should have refused.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "must-not-load.h"

#define BAD_TYPE_TRANSPORT (bad_transport_get_type ())
G_DECLARE_FINAL_TYPE (BadTransport, bad_transport, BAD, TRANSPORT, GObject)

struct _BadTransport {
  GObject parent_instance;
  FoctetIdentity *identity;
};

static void bad_transport_iface_init (FoctetTransportInterface *iface);

G_DEFINE_DYNAMIC_TYPE_EXTENDED (BadTransport, bad_transport, G_TYPE_OBJECT, G_TYPE_FLAG_FINAL,
                                G_IMPLEMENT_INTERFACE_DYNAMIC (FOCTET_TYPE_TRANSPORT,
                                                               bad_transport_iface_init))

static const char *
bad_transport_get_name (FoctetTransport *transport)
{
  return "must-not-load";
}

static void
bad_transport_iface_init (FoctetTransportInterface *iface)
{
  iface->get_name = bad_transport_get_name;
}

static void
bad_transport_set_property (GObject      *object,
                            guint         prop_id,
                            const GValue *value,
                            GParamSpec   *pspec)
{
  BAD_TRANSPORT (object)->identity = g_value_dup_object (value);
}

static void
bad_transport_get_property (GObject    *object,
                            guint       prop_id,
                            GValue     *value,
                            GParamSpec *pspec)
{
  g_value_set_object (value, BAD_TRANSPORT (object)->identity);
}

static void
bad_transport_finalize (GObject *object)
{
  g_clear_object (&BAD_TRANSPORT (object)->identity);
  G_OBJECT_CLASS (bad_transport_parent_class)->finalize (object);
}

static void
bad_transport_class_init (BadTransportClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->set_property = bad_transport_set_property;
  object_class->get_property = bad_transport_get_property;
  object_class->finalize = bad_transport_finalize;
  g_object_class_override_property (object_class, 1, "identity");
}

static void
bad_transport_class_finalize (BadTransportClass *klass)
{
}

static void
bad_transport_init (BadTransport *self)
{
}

void
bad_plugin_register_must_not_load (GIOModule *module)
{
  bad_transport_register_type (G_TYPE_MODULE (module));
  g_io_extension_point_implement (FOCTET_EXTENSION_POINT_TRANSPORT, BAD_TYPE_TRANSPORT,
                                  "must-not-load", 0);
}
