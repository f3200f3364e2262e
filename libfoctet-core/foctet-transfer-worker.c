/* foctet-transfer-worker.c: the file-I/O threads of a transfer, each
 * with its queue of operations, and results delivered on a main context.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "foctet-transfer-worker.h"

struct _FoctetTransferWorker {
  GThread *thread;
  GMutex lock;
  GCond wake;
  GQueue todo;                          /* operations not yet taken by the thread */
  gboolean sleeping;                    /* the thread waits on @wake */
  gboolean quit;
  GQueue done;                          /* operations run, not yet delivered */
  GSource *source;                      /* NULL for a stage */
  FoctetTransferWorkFunc work;
  FoctetTransferDeliverFunc deliver;
  FoctetTransferWorker *next;           /* a stage's: takes what it ran */
};

/* Takes everything queued at once, so that a burst of operations (one
 * per small file) costs one wake-up of the thread, not one each. */
static gpointer
worker_thread (gpointer data)
{
  FoctetTransferWorker *self = data;

  for (;;)
    {
      GQueue batch;
      gpointer op;

      g_mutex_lock (&self->lock);
      while (g_queue_is_empty (&self->todo) && !self->quit)
        {
          self->sleeping = TRUE;
          g_cond_wait (&self->wake, &self->lock);
        }
      self->sleeping = FALSE;
      if (g_queue_is_empty (&self->todo))
        {
          g_mutex_unlock (&self->lock);
          return NULL;
        }
      batch = self->todo;
      g_queue_init (&self->todo);
      g_mutex_unlock (&self->lock);

      while ((op = g_queue_pop_head (&batch)) != NULL)
        {
          gboolean wake;

          self->work (op);
          if (self->next != NULL)
            {
              foctet_transfer_worker_push (self->next, op);
              continue;
            }
          g_mutex_lock (&self->lock);
          wake = g_queue_is_empty (&self->done);
          g_queue_push_tail (&self->done, op);
          g_mutex_unlock (&self->lock);
          /* One wake-up per batch: the context takes everything there is. */
          if (wake)
            g_source_set_ready_time (self->source, 0);
        }
    }
}

static gboolean
worker_dispatch (GSource     *source,
                 GSourceFunc  callback,
                 gpointer     user_data)
{
  FoctetTransferWorker *self = user_data;
  FoctetTransferDeliverFunc deliver = self->deliver;
  GQueue batch = G_QUEUE_INIT;
  gpointer op;

  /* Before taking the batch: what the thread adds after it wakes us again. */
  g_source_set_ready_time (source, -1);
  g_mutex_lock (&self->lock);
  batch = self->done;
  g_queue_init (&self->done);
  g_mutex_unlock (&self->lock);
  /* Each operation keeps its owner, and so the worker, alive until it is
   * delivered: the last delivery may free the worker. */
  while ((op = g_queue_pop_head (&batch)) != NULL)
    deliver (op);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs worker_source_funcs = {
  NULL, NULL, worker_dispatch, NULL, NULL, NULL,
};

static FoctetTransferWorker *
worker_new (const char                *name,
            GMainContext              *context,
            FoctetTransferWorkFunc     work,
            FoctetTransferDeliverFunc  deliver,
            FoctetTransferWorker      *next)
{
  FoctetTransferWorker *self = g_new0 (FoctetTransferWorker, 1);

  g_mutex_init (&self->lock);
  g_cond_init (&self->wake);
  g_queue_init (&self->todo);
  g_queue_init (&self->done);
  self->work = work;
  self->deliver = deliver;
  self->next = next;
  if (next == NULL)
    {
      self->source = g_source_new (&worker_source_funcs, sizeof (GSource));
      g_source_set_callback (self->source, NULL, self, NULL);
      g_source_set_static_name (self->source, name);
      g_source_attach (self->source, context);
    }
  self->thread = g_thread_new (name, worker_thread, self);
  return self;
}

FoctetTransferWorker *
foctet_transfer_worker_new (const char                *name,
                            GMainContext              *context,
                            FoctetTransferWorkFunc     work,
                            FoctetTransferDeliverFunc  deliver)
{
  return worker_new (name, context, work, deliver, NULL);
}

/* A worker that runs @work on each operation and passes it on to @next
 * (which outlives it), in the order pushed: two threads working on one
 * file's chunks at once, e.g. one hashing while the other waits for the
 * disk.  A stage delivers nothing itself; @next does. */
FoctetTransferWorker *
foctet_transfer_worker_new_stage (const char             *name,
                                  FoctetTransferWorkFunc  work,
                                  FoctetTransferWorker   *next)
{
  g_return_val_if_fail (next != NULL, NULL);

  return worker_new (name, NULL, work, NULL, next);
}

/* @op is run in the thread, then delivered; in the order pushed.  Only
 * a thread asleep is woken: while it works it takes what came meanwhile. */
void
foctet_transfer_worker_push (FoctetTransferWorker *self,
                             gpointer              op)
{
  gboolean wake;

  g_mutex_lock (&self->lock);
  g_queue_push_tail (&self->todo, op);
  wake = self->sleeping;
  self->sleeping = FALSE;
  g_mutex_unlock (&self->lock);
  if (wake)
    g_cond_signal (&self->wake);
}

/* Stops the thread once it ran what it was given.  What it ran is
 * delivered no more: free the worker once every operation came back,
 * and a stage before the worker it passes operations on to. */
void
foctet_transfer_worker_free (FoctetTransferWorker *self)
{
  g_mutex_lock (&self->lock);
  self->quit = TRUE;
  g_cond_signal (&self->wake);
  g_mutex_unlock (&self->lock);
  g_thread_join (self->thread);
  g_assert (g_queue_is_empty (&self->done));
  if (self->source != NULL)
    {
      g_source_destroy (self->source);
      g_source_unref (self->source);
    }
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->wake);
  g_free (self);
}
