// The GLPK adapter: an owner of one GLPK problem object and the process-wide lock every GLPK
// user takes. Users include <glpk.h> themselves for the solver calls (target devshare::lp).
// Thread-safety: GlpkMutex() is safe from any thread; a GlpkProblem is used under it.
#ifndef DEVSHARE_LP_GLPK_PROBLEM_H_
#define DEVSHARE_LP_GLPK_PROBLEM_H_

#include <mutex>

struct glp_prob;  // GLPK's problem object (glpk.h)

namespace devshare::lp {

// Owns a GLPK problem (glp_create_prob); deleted on every path. Use under GlpkMutex().
class GlpkProblem {
 public:
  GlpkProblem();
  ~GlpkProblem();
  GlpkProblem(const GlpkProblem&) = delete;
  GlpkProblem& operator=(const GlpkProblem&) = delete;
  glp_prob* get() const { return lp_; }

 private:
  glp_prob* lp_;
};

// GLPK keeps its environment (terminal hook, memory accounting) in a global unless it was built
// with thread-local storage; every use in the process takes this lock.
std::mutex& GlpkMutex();

}  // namespace devshare::lp

#endif  // DEVSHARE_LP_GLPK_PROBLEM_H_
