// DS_CHECK: always-on invariant assertion; a violation would corrupt allocations, so it aborts.
// Thread-safety: stateless. Never use on user input or backend responses.
#ifndef DEVSHARE_CORE_CHECK_H_
#define DEVSHARE_CORE_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define DS_CHECK(cond)                                                                    \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                       \
    }                                                                                     \
  } while (0)

#endif  // DEVSHARE_CORE_CHECK_H_
