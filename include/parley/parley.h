/* parley.h - everything in one include. */
#ifndef PARLEY_H
#define PARLEY_H

#include "parley/version.h"
#include "parley/addr.h"
#include "parley/buf.h"
#include "parley/burst.h"
#include "parley/client.h"
#include "parley/conn.h"
#include "parley/clock.h"
#include "parley/dgram.h"
#include "parley/error.h"
#include "parley/escape.h"
#include "parley/fd.h"
#include "parley/frame.h"
#include "parley/group.h"
#include "parley/hist.h"
#include "parley/loop.h"
#include "parley/server.h"
#include "parley/acl.h"
#include "parley/sock.h"
#include "parley/tls.h"
#include "parley/transport.h"

#endif
