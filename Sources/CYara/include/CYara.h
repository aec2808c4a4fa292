#ifndef CYARA_H
#define CYARA_H
#include <yara.h>
#endif
