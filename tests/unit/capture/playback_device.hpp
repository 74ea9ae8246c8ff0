#pragma once
// Windows, for the sound tests (wasapi_capture_test.cpp and
// agent_windows_probe tone): the active playback device with a friendly name.
// COM must be initialised on the calling thread.
#include <windows.h>
//
#include <functiondiscoverykeys_devpkey.h>
#include <mmdeviceapi.h>

#include <string>

#include "common/com_ptr.hpp"

namespace deskaudit::test {

// The active playback device whose friendly name is `name`, or null.
inline ComPtr<IMMDevice> playback_device(const std::wstring& name) {
  IMMDeviceEnumerator* en = nullptr;
  if (FAILED(CoCreateInstance(__uuidof(MMDeviceEnumerator), nullptr, CLSCTX_ALL, __uuidof(IMMDeviceEnumerator),
                              reinterpret_cast<void**>(&en))))
    return nullptr;
  ComPtr<IMMDeviceEnumerator> enumerator(en);
  IMMDeviceCollection* raw = nullptr;
  if (FAILED(en->EnumAudioEndpoints(eRender, DEVICE_STATE_ACTIVE, &raw))) return nullptr;
  ComPtr<IMMDeviceCollection> all(raw);
  UINT count = 0;
  all->GetCount(&count);
  for (UINT i = 0; i < count; ++i) {
    IMMDevice* d = nullptr;
    if (FAILED(all->Item(i, &d))) continue;
    ComPtr<IMMDevice> device(d);
    IPropertyStore* ps = nullptr;
    if (FAILED(d->OpenPropertyStore(STGM_READ, &ps))) continue;
    ComPtr<IPropertyStore> store(ps);
    PROPVARIANT v;
    PropVariantInit(&v);
    const bool match =
        SUCCEEDED(store->GetValue(PKEY_Device_FriendlyName, &v)) && v.vt == VT_LPWSTR && name == v.pwszVal;
    PropVariantClear(&v);
    if (match) return device;
  }
  return nullptr;
}

}  // namespace deskaudit::test
