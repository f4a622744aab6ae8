#include "runtime/python_child.h"

#include "runtime/child_runtime.h"

namespace pympm {

PythonChild::PythonChild(ChildSettings settings, MpmModel mpm, LogSink& log)
    : runtime_(std::make_unique<ChildRuntime>(std::move(settings), std::move(mpm), log)) {}

PythonChild::~PythonChild() {
    // A runtime whose Python could not be finalised keeps its references
    // (releasing them would run Python in a dead interpreter).
    if (!runtime_->disposable()) static_cast<void>(runtime_.release());
}

void PythonChild::set_status_board(StatusBoard* board) { runtime_->set_status_board(board); }
void PythonChild::set_control(ChildControl* control) { runtime_->set_control(control); }
void PythonChild::start(int generation) { runtime_->start(generation); }
int PythonChild::handle(int app_index, RequestIO& io) noexcept { return runtime_->handle(app_index, io); }
void PythonChild::notify_stopping() noexcept { runtime_->notify_stopping(); }
void PythonChild::shutdown() noexcept { runtime_->shutdown(); }
ChildHealth PythonChild::health() const { return runtime_->health(); }
const ChildSettings& PythonChild::settings() const { return runtime_->settings(); }
const EffectiveModel& PythonChild::model() const { return runtime_->model(); }
bool PythonChild::disposable() const { return runtime_->disposable(); }

} // namespace pympm
