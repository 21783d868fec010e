// GLPK problem owner and lock (see the header).
// Thread-safety: see glpk_problem.h.
#include "devshare/lp/glpk_problem.h"

#include <glpk.h>

namespace devshare::lp {

GlpkProblem::GlpkProblem() : lp_(glp_create_prob()) {}
GlpkProblem::~GlpkProblem() { glp_delete_prob(lp_); }

std::mutex& GlpkMutex() {
  static std::mutex mu;
  return mu;
}

}  // namespace devshare::lp
