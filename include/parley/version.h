/* version.h - the one place the version lives (the Makefile reads it too). */
#ifndef PARLEY_VERSION_H
#define PARLEY_VERSION_H

#define PARLEY_VERSION "0.1.0"
#define PARLEY_VERSION_MAJOR 0

#endif
