include $(sort $(wildcard $(BR2_EXTERNAL_CAPTUREBOX_PATH)/package/*/*.mk))
