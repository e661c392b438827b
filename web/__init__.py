"""paas.web"""
