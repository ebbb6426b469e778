// A SoapySDR driver for the tests: a radio with hardware time, made of a clock.
//
// It plays the part pyvisa-sim plays for the instruments: the real SoapySDR library loads it
// (SoapySDR.loadModule, or SOAPY_SDR_PLUGIN_PATH) and daqflow's soapy_source/soapy_sink talk
// to it through the same API as to any radio. Open it with "driver=loopback".
//
// RX (two channels): a clock at the sample rate captures one sample per tick from
// activateStream on. Each sample says where it comes from: its real part is its index modulo
// 2^24, its imaginary part the centre frequency in MHz in effect when it was captured, plus
// 1000 times the channel number. The radio holds
// `buffer` samples (device arg, default 65536); a reader further behind than that loses
// what the radio held: readStream returns SOAPY_SDR_OVERFLOW once, and the next read's
// timestamp (index * 1e9 / rate ns) shows the jump. setFrequency takes effect `latency`
// samples (device arg, default 1000) after the sample being captured when it is called.
// Faults on demand: after `stall_after` samples it delivers nothing more (an unplugged radio:
// readStream times out), after `fail_after` samples readStream returns SOAPY_SDR_STREAM_ERROR.
// With `time=0` it is a radio without hardware time (no timestamps, as the audio driver).
// `time_query_us` (default 0) is how long getHardwareTime takes to return after it read the
// clock, as a round trip over USB or Ethernet takes on a real radio.
//
// TX: writeStream feeds a DAC that consumes samples at the sample rate from a `buffer`-sample
// queue, starting with the first write; when it runs dry, that is an underflow, reported by
// readStreamStatus (SOAPY_SDR_UNDERFLOW, one event each). Written samples are only counted.

#include <SoapySDR/Device.hpp>
#include <SoapySDR/Errors.hpp>
#include <SoapySDR/Formats.hpp>
#include <SoapySDR/Registry.hpp>

#include <algorithm>
#include <chrono>
#include <complex>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kMtu = 4096;

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

class LoopbackRadio : public SoapySDR::Device {
  public:
    explicit LoopbackRadio(const SoapySDR::Kwargs &args)
        : buffer_(args.count("buffer") ? std::stoull(args.at("buffer")) : 65536),
          latency_(args.count("latency") ? std::stoll(args.at("latency")) : 1000),
          stall_after_(args.count("stall_after") ? std::stoll(args.at("stall_after")) : -1),
          fail_after_(args.count("fail_after") ? std::stoll(args.at("fail_after")) : -1),
          timed_(!args.count("time") || args.at("time") != "0"),
          time_query_(std::chrono::microseconds(
              args.count("time_query_us") ? std::stoll(args.at("time_query_us")) : 0)) {}

    std::string getDriverKey() const override { return "loopback"; }
    std::string getHardwareKey() const override { return "daqflow-test-loopback"; }
    size_t getNumChannels(const int dir) const override { return dir == SOAPY_SDR_RX ? 2 : 1; }
    bool getFullDuplex(const int, const size_t) const override { return true; }
    std::vector<std::string> getStreamFormats(const int, const size_t) const override {
        return {SOAPY_SDR_CF32};
    }
    std::string getNativeStreamFormat(const int, const size_t, double &fullScale) const override {
        fullScale = 1.0;
        return SOAPY_SDR_CF32;
    }

    // settings
    std::vector<std::string> listAntennas(const int dir, const size_t) const override {
        return {dir == SOAPY_SDR_RX ? "RX" : "TX"};
    }
    void setAntenna(const int, const size_t, const std::string &) override {}
    std::string getAntenna(const int dir, const size_t) const override { return dir == SOAPY_SDR_RX ? "RX" : "TX"; }
    SoapySDR::Range getGainRange(const int, const size_t) const override { return SoapySDR::Range(0, 50); }
    void setGain(const int dir, const size_t, const double value) override { gain_[dir] = value; }
    double getGain(const int dir, const size_t) const override { return gain_[dir]; }
    SoapySDR::RangeList getFrequencyRange(const int, const size_t) const override {
        return {SoapySDR::Range(1e6, 6e9)};
    }
    void setFrequency(const int dir, const size_t, const double freq, const SoapySDR::Kwargs &) override {
        std::lock_guard<std::mutex> lock(mutex_);
        freq_[dir] = freq;
        if (dir == SOAPY_SDR_RX) {
            int64_t now = rx_active_ ? produced() : 0;
            changes_.emplace_back(rx_active_ ? now + latency_ : 0, freq);
        }
    }
    double getFrequency(const int dir, const size_t) const override { return freq_[dir]; }
    SoapySDR::RangeList getSampleRateRange(const int, const size_t) const override {
        return {SoapySDR::Range(1e3, 20e6)};
    }
    std::vector<double> listSampleRates(const int, const size_t) const override { return {}; }
    void setSampleRate(const int dir, const size_t, const double rate) override { rate_[dir] = rate; }
    double getSampleRate(const int dir, const size_t) const override { return rate_[dir]; }
    bool hasHardwareTime(const std::string &) const override { return timed_; }
    long long getHardwareTime(const std::string &) const override {
        long long now;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            now = rx_active_ ? static_cast<long long>(produced() * 1e9 / rate_[SOAPY_SDR_RX]) : 0;
        }
        std::this_thread::sleep_for(time_query_);  // the reply's way back
        return now;
    }

    // streams
    SoapySDR::Stream *setupStream(const int dir, const std::string &format, const std::vector<size_t> &channels,
                                  const SoapySDR::Kwargs &) override {
        if (format != SOAPY_SDR_CF32) throw std::runtime_error("loopback: only CF32");
        for (size_t c : channels) {
            if (c >= getNumChannels(dir)) throw std::runtime_error("loopback: no such channel");
        }
        if (dir == SOAPY_SDR_RX) rx_channels_ = channels.empty() ? std::vector<size_t>{0} : channels;
        return reinterpret_cast<SoapySDR::Stream *>(static_cast<intptr_t>(dir + 1));
    }
    void closeStream(SoapySDR::Stream *) override {}
    size_t getStreamMTU(SoapySDR::Stream *) const override { return kMtu; }
    int activateStream(SoapySDR::Stream *stream, const int, const long long, const size_t) override {
        std::lock_guard<std::mutex> lock(mutex_);
        if (direction(stream) == SOAPY_SDR_RX) {
            rx_t0_ = Clock::now();
            rx_next_ = 0;
            rx_active_ = true;
        } else {
            tx_started_ = false;
            tx_written_ = 0;
        }
        return 0;
    }
    int deactivateStream(SoapySDR::Stream *stream, const int, const long long) override {
        std::lock_guard<std::mutex> lock(mutex_);
        if (direction(stream) == SOAPY_SDR_RX) rx_active_ = false;
        return 0;
    }

    int readStream(SoapySDR::Stream *stream, void *const *buffs, const size_t numElems, int &flags,
                   long long &timeNs, const long timeoutUs) override {
        if (direction(stream) != SOAPY_SDR_RX) return SOAPY_SDR_NOT_SUPPORTED;
        const auto deadline = Clock::now() + std::chrono::microseconds(timeoutUs);
        const int64_t want = static_cast<int64_t>(std::min(numElems, kMtu));
        std::unique_lock<std::mutex> lock(mutex_);
        if (fail_after_ >= 0 && rx_next_ >= fail_after_) return SOAPY_SDR_STREAM_ERROR;
        if (stall_after_ >= 0 && rx_next_ >= stall_after_) {
            lock.unlock();
            std::this_thread::sleep_until(deadline);
            return SOAPY_SDR_TIMEOUT;
        }
        while (true) {
            const int64_t produced_now = produced();
            const int64_t held = produced_now - rx_next_;
            if (held > static_cast<int64_t>(buffer_)) {  // the radio overflowed: what it held is gone
                rx_next_ = produced_now;
                return SOAPY_SDR_OVERFLOW;
            }
            if (held >= want || (held > 0 && Clock::now() >= deadline)) {
                const int64_t n = std::min(held, want);
                for (size_t b = 0; b < rx_channels_.size(); b++) {
                    auto *out = static_cast<std::complex<float> *>(buffs[b]);
                    const double offset = 1000.0 * static_cast<double>(rx_channels_[b]);
                    for (int64_t k = 0; k < n; k++) {
                        const int64_t index = rx_next_ + k;
                        out[k] = std::complex<float>(static_cast<float>(index % (1 << 24)),
                                                     static_cast<float>(freq_at(index) / 1e6 + offset));
                    }
                }
                flags = timed_ ? SOAPY_SDR_HAS_TIME : 0;
                timeNs = static_cast<long long>(rx_next_ * 1e9 / rate_[SOAPY_SDR_RX]);
                rx_next_ += n;
                return static_cast<int>(n);
            }
            if (Clock::now() >= deadline) return SOAPY_SDR_TIMEOUT;
            const double missing = static_cast<double>(want - std::max<int64_t>(held, 0));
            auto wait = std::chrono::duration<double>(missing / rate_[SOAPY_SDR_RX]);
            lock.unlock();
            std::this_thread::sleep_until(std::min(deadline, Clock::now() +
                std::chrono::duration_cast<Clock::duration>(wait)));
            lock.lock();
        }
    }

    int writeStream(SoapySDR::Stream *stream, const void *const *, const size_t numElems, int &,
                    const long long, const long timeoutUs) override {
        if (direction(stream) != SOAPY_SDR_TX) return SOAPY_SDR_NOT_SUPPORTED;
        const auto deadline = Clock::now() + std::chrono::microseconds(timeoutUs);
        std::unique_lock<std::mutex> lock(mutex_);
        const double rate = rate_[SOAPY_SDR_TX];
        if (!tx_started_) {
            tx_started_ = true;
            tx_t0_ = Clock::now();
            tx_base_ = 0;
        }
        while (true) {
            int64_t consumed = tx_base_ + static_cast<int64_t>(seconds_since(tx_t0_) * rate);
            if (consumed > tx_written_) {  // the DAC ran dry before these samples came
                tx_underflows_++;
                tx_t0_ = Clock::now();
                tx_base_ = tx_written_;
                consumed = tx_written_;
            }
            const int64_t space = static_cast<int64_t>(buffer_) - (tx_written_ - consumed);
            if (space > 0) {
                const int64_t n = std::min<int64_t>({space, static_cast<int64_t>(numElems),
                                                     static_cast<int64_t>(kMtu)});
                tx_written_ += n;
                return static_cast<int>(n);
            }
            if (Clock::now() >= deadline) return SOAPY_SDR_TIMEOUT;
            lock.unlock();
            std::this_thread::sleep_for(std::chrono::microseconds(200));
            lock.lock();
        }
    }

    int readStreamStatus(SoapySDR::Stream *stream, size_t &, int &, long long &, const long) override {
        if (direction(stream) != SOAPY_SDR_TX) return SOAPY_SDR_NOT_SUPPORTED;
        std::lock_guard<std::mutex> lock(mutex_);
        if (tx_reported_ < tx_underflows_) {
            tx_reported_++;
            return SOAPY_SDR_UNDERFLOW;
        }
        return SOAPY_SDR_TIMEOUT;
    }

  private:
    static int direction(SoapySDR::Stream *stream) {
        return static_cast<int>(reinterpret_cast<intptr_t>(stream)) - 1;
    }
    int64_t produced() const {
        return static_cast<int64_t>(seconds_since(rx_t0_) * rate_[SOAPY_SDR_RX]);
    }
    double freq_at(int64_t index) const {
        double freq = freq_[SOAPY_SDR_RX];
        for (auto it = changes_.rbegin(); it != changes_.rend(); ++it) {
            if (it->first <= index) return it->second;
        }
        return changes_.empty() ? freq : changes_.front().second;
    }

    const size_t buffer_;
    const int64_t latency_;
    const int64_t stall_after_;
    const int64_t fail_after_;
    const bool timed_;
    const std::chrono::microseconds time_query_;
    mutable std::mutex mutex_;
    double rate_[2] = {1e6, 1e6};
    double freq_[2] = {100e6, 100e6};
    double gain_[2] = {0, 0};
    std::vector<std::pair<int64_t, double>> changes_;  // (first sample index, RX frequency)
    std::vector<size_t> rx_channels_{0};
    bool rx_active_ = false;
    Clock::time_point rx_t0_;
    int64_t rx_next_ = 0;
    bool tx_started_ = false;
    Clock::time_point tx_t0_;
    int64_t tx_base_ = 0;
    int64_t tx_written_ = 0;
    int64_t tx_underflows_ = 0;
    int64_t tx_reported_ = 0;
};

SoapySDR::KwargsList find_loopback(const SoapySDR::Kwargs &args) {
    if (args.count("driver") && args.at("driver") != "loopback") return {};
    SoapySDR::Kwargs found;
    found["driver"] = "loopback";
    found["label"] = "daqflow test loopback radio";
    return {found};
}

SoapySDR::Device *make_loopback(const SoapySDR::Kwargs &args) { return new LoopbackRadio(args); }

SoapySDR::Registry register_loopback("loopback", &find_loopback, &make_loopback, SOAPY_SDR_ABI_VERSION);

}  // namespace
